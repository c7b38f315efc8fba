package dev.rq.cli;

import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.train.TrainingJob;
import dev.rq.jobs.train.TransformerStage;
import dev.rq.model.config.TransformerRunConfig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code rq train-transformer}: data-parallel RQ-Transformer training on a token table. */
@Command(name = "train-transformer", mixinStandardHelpOptions = true,
        description = "Train an RQ-Transformer data-parallel on Spark from a token table (resumes like train-vae).")
public final class TrainTransformerCommand implements Callable<Integer> {

    @Option(names = "--conf", required = true,
            description = "Stage-2 config YAML (conf/rqtransformer/*.yaml), a local path or any Hadoop URI")
    String conf;

    @Option(names = "--tokens", required = true, description = "Token table URI written by rq tokenize")
    String tokens;

    @Option(names = "--vae", required = true, description = "The RQ-VAE checkpoint that wrote the token table")
    String vae;

    @Option(names = "--out", required = true, description = "Run directory URI")
    String out;

    @Option(names = "--workers", defaultValue = "1", description = "Ranks N; the batch stays global")
    int workers;

    @Option(names = "--split", defaultValue = "train", description = "Training split (default ${DEFAULT-VALUE})")
    String split;

    @Option(names = "--held-out", defaultValue = "validation",
            description = "Split for bits/code at checkpoints; 'none' to skip (default ${DEFAULT-VALUE})")
    String heldOut;

    @Option(names = "--max-steps", description = "Override train.max_steps")
    Integer maxSteps;

    @Option(names = "--init", description = "Start from the model weights of this checkpoint (fine-tuning: fresh"
            + " optimizer, step 0; tensor names and shapes must match the config); sets train.init")
    String init;

    @Mixin
    PrecisionOption precision = new PrecisionOption();

    @Option(names = "--set", description = "Config override key=value (repeatable)")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--collective-timeout", defaultValue = "PT120S", description = "Silent-peer time-out (ISO-8601)")
    Duration collectiveTimeout;

    @Option(names = "--driver-retries", defaultValue = "2", description = "Resubmissions after Spark gives up")
    int driverRetries;

    @Option(names = "--fault-injection", hidden = true, description = "testing: throw|hang|exit:rank:step")
    String faultInjection;

    @Override
    public Integer call() throws Exception {
        List<String> sets = new ArrayList<>(overrides);
        sets.add("vae.checkpoint=" + vae);
        if (precision.precision != null) {
            sets.add("train.precision=" + precision.precision.id());
        }
        if (maxSteps != null) {
            sets.add("train.max_steps=" + maxSteps);
        }
        if (init != null) {
            sets.add("train.init=" + init);
        }
        TransformerRunConfig config = ConfigFiles.transformer(conf, sets); // fails before Spark starts
        TransformerStage stage = new TransformerStage(config, tokens, split, "none".equals(heldOut) ? null : heldOut);
        SparkSession spark = SparkSessions.getOrCreate("train-transformer", workers);
        try {
            PrecisionOption.checkBeforeWork(config.train().computePrecision(), spark);
            TrainingJob.Result r = TrainingJob.run(spark, stage, new TrainingJob.Options(out, workers,
                    collectiveTimeout, driverRetries, faultInjection));
            System.out.printf("trained %d steps -> %s%nfinal checkpoint: %s%nweights sha256: %s%n", r.steps(),
                    r.runUri(), r.finalCheckpoint(), r.weightsSha256());
            return 0;
        } finally {
            spark.stop();
        }
    }
}
