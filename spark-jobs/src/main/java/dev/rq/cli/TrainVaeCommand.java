package dev.rq.cli;

import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.train.TrainVaeJob;
import dev.rq.model.config.RqVaeRunConfig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code rq train-vae}: data-parallel RQ-VAE training on Spark. */
@Command(name = "train-vae", mixinStandardHelpOptions = true,
        description = "Train an RQ-VAE data-parallel on Spark (resumes from the run's last checkpoint).")
public final class TrainVaeCommand implements Callable<Integer> {

    @Option(names = "--conf", required = true,
            description = "Run config YAML (conf/rqvae/*.yaml), a local path or any Hadoop URI (s3a://, hdfs://)")
    String conf;

    @Option(names = "--data", required = true, description = "Dataset split URI, e.g. data/emoji/train")
    String data;

    @Option(names = "--out", required = true, description = "Run directory URI (checkpoints, metrics, plots)")
    String out;

    @Option(names = "--workers", defaultValue = "1", description = "Ranks N (barrier tasks); the batch stays global")
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

    @Mixin
    PrecisionOption precision = new PrecisionOption();

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

    @Override
    public Integer call() throws Exception {
        List<String> sets = new ArrayList<>(overrides);
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
        if (precision.precision != null) {
            sets.add("train.precision=" + precision.precision.id());
        }
        RqVaeRunConfig config = ConfigFiles.rqVae(conf, sets); // fails before Spark starts
        TrainVaeJob.Options o = new TrainVaeJob.Options(config, data, out, workers, collectiveTimeout, driverRetries,
                faultInjection);
        SparkSession spark = SparkSessions.getOrCreate("train-vae", workers);
        try {
            PrecisionOption.checkBeforeWork(config.train().computePrecision(), spark);
            TrainVaeJob.Result r = TrainVaeJob.run(spark, o);
            System.out.printf("trained %d steps -> %s%nfinal checkpoint: %s%nweights sha256: %s%n", r.steps(),
                    r.runUri(), r.finalCheckpoint(), r.weightsSha256());
            return 0;
        } finally {
            spark.stop();
        }
    }
}
