package dev.rq.cli;

import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.train.TrainingJob;
import dev.rq.jobs.train.TrainingStage;
import dev.rq.model.config.ConfigException;
import dev.rq.model.engine.Precision;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The training flags every training command shares ({@code train-vae}, {@code train-transformer},
 * {@code train-sid}, {@code quickstart}), as one picocli mixin. The {@code train.*} shortcuts become
 * {@code --set} overrides of the config file, so a bad value fails where the file is bound, naming
 * its key ({@code --precision} too: {@code train.precision}); the rest become the {@link
 * TrainingJob.Options} of the run.
 */
final class TrainingFlags {

    @Option(names = "--workers", description = "Ranks N (barrier tasks; the local session's task slots); the batch"
            + " stays global (default ${DEFAULT-VALUE})")
    int workers;

    @Option(names = "--max-steps", description = "Override train.max_steps")
    Integer maxSteps;

    @Option(names = "--checkpoint-every", description = "Override train.checkpoint_every")
    Integer checkpointEvery;

    @Option(names = "--seed", description = "Override train.seed")
    Long seed;

    @Option(names = "--init", description = "Start from the model weights of this checkpoint (fine-tuning: fresh"
            + " optimizer, step 0; tensor names and shapes must match the config); sets train.init")
    String init;

    @Option(names = "--set", description = "Config override key=value (repeatable)")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--collective-timeout", defaultValue = "PT120S",
            description = "A silent peer fails the stage after this long (ISO-8601, default ${DEFAULT-VALUE})")
    Duration collectiveTimeout;

    @Option(names = "--driver-retries", defaultValue = "2",
            description = "Resubmissions after Spark gives up on the stage (default ${DEFAULT-VALUE})")
    int driverRetries;

    @Option(names = "--fault-injection", hidden = true, description = "testing: throw|hang|exit:rank:step")
    String faultInjection;

    /** {@code --precision}: sets {@code train.precision}. */
    @Mixin
    PrecisionOption precision = new PrecisionOption();

    /** With one rank by default. */
    TrainingFlags() {
        this(1);
    }

    /** @param workers the command's default rank count */
    TrainingFlags(int workers) {
        this.workers = workers;
    }

    /** @return {@code --workers}, at least 1 */
    int workers() {
        if (workers < 1) {
            throw new ConfigException("--workers", "must be at least 1, got " + workers);
        }
        return workers;
    }

    /** @return {@code --set} followed by the {@code train.*} shortcuts given (these win) */
    List<String> overrides() {
        List<String> sets = precision.overrides(overrides);
        if (maxSteps != null) {
            sets.add("train.max_steps=" + maxSteps);
        }
        if (checkpointEvery != null) {
            sets.add("train.checkpoint_every=" + checkpointEvery);
        }
        if (seed != null) {
            sets.add("train.seed=" + seed);
        }
        if (init != null) {
            sets.add("train.init=" + init);
        }
        return sets;
    }

    /**
     * The job options of a run into {@code runUri}, after the config checks of {@code stage} against
     * the ranks (before any Spark session exists).
     */
    TrainingJob.Options job(TrainingStage stage, String runUri) {
        TrainingJob.Options o = new TrainingJob.Options(runUri, workers(), collectiveTimeout, driverRetries,
                faultInjection);
        stage.check(o.workers());
        return o;
    }

    /** A training run in the command's Spark session. */
    @FunctionalInterface
    interface Run {
        TrainingJob.Result train(SparkSession spark) throws Exception;
    }

    /**
     * The end of every training command: a Spark session named {@code app} with {@code o.workers()}
     * task slots (stopped afterwards), the {@code precision} check before any work, the run, and its
     * result on stdout.
     *
     * @param what what was trained, printed before the step count (null: nothing)
     * @return the exit code (0)
     */
    static int run(String app, TrainingJob.Options o, Precision precision, String what, Run run) throws Exception {
        SparkSession spark = SparkSessions.getOrCreate(app, o.workers());
        try {
            PrecisionOption.checkBeforeWork(precision, spark);
            TrainingJob.Result r = run.train(spark);
            String steps = r.steps() + " steps";
            System.out.printf("trained %s -> %s%nfinal checkpoint: %s%nweights sha256: %s%n",
                    what == null ? steps : what + " (" + steps + ")", r.runUri(), r.finalCheckpoint(), r.weightsSha256());
            return 0;
        } finally {
            spark.stop();
        }
    }
}
