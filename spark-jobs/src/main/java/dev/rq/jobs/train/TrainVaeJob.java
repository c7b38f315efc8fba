package dev.rq.jobs.train;

import dev.rq.model.config.ConfigException;
import dev.rq.model.config.RqVaeRunConfig;
import java.io.IOException;
import java.time.Duration;
import org.apache.spark.sql.SparkSession;

/** {@code rq train-vae}: the RQ-VAE {@link VaeStage} run by {@link TrainingJob}. */
public final class TrainVaeJob {

    private TrainVaeJob() {}

    /**
     * Job inputs.
     *
     * @param config resolved run configuration (model, train, data)
     * @param dataUri dataset split URI (e.g. {@code data/emoji/train})
     * @param runUri run directory URI
     * @param workers N ranks (one barrier task each)
     * @param collectiveTimeout a peer silent for this long fails the stage
     * @param driverRetries resubmissions of the stage after Spark gives up
     * @param faultInjection testing only: {@code throw|hang|exit:rank:step}, one-shot per run
     */
    public record Options(
            RqVaeRunConfig config,
            String dataUri,
            String runUri,
            int workers,
            Duration collectiveTimeout,
            int driverRetries,
            String faultInjection) {

        public Options {
            if (workers < 1) {
                throw new ConfigException("--workers", "must be at least 1, got " + workers);
            }
            TrainingStage.checkBatch(config.train(), workers);
        }
    }

    /**
     * The outcome (see {@link TrainingJob.Result}).
     *
     * @param runUri the run directory
     * @param finalCheckpoint URI of the last committed checkpoint
     * @param steps optimizer steps of the run
     * @param weightsSha256 SHA-256 of the final weights (null if the run was already complete)
     * @param submissions times the training stage was submitted
     */
    public record Result(String runUri, String finalCheckpoint, long steps, String weightsSha256, int submissions) {}

    /** Runs RQ-VAE training. */
    public static Result run(SparkSession spark, Options o) throws IOException {
        TrainingJob.Result r = TrainingJob.run(spark, new VaeStage(o.config(), o.dataUri()), new TrainingJob.Options(
                o.runUri(), o.workers(), o.collectiveTimeout(), o.driverRetries(), o.faultInjection()));
        return new Result(r.runUri(), r.finalCheckpoint(), r.steps(), r.weightsSha256(), r.submissions());
    }
}
