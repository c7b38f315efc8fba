package dev.rq.cli;

import dev.rq.jobs.train.SidStage;
import dev.rq.jobs.train.TrainingJob;
import dev.rq.model.config.SidModelConfig;
import dev.rq.model.config.SidRunConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code rq train-sid}: a semantic-ID model (RQ-VAE over embeddings, or residual k-means) on Spark. */
@Command(name = "train-sid", mixinStandardHelpOptions = true,
        header = "Train a semantic-ID model (RQ-VAE or residual k-means).",
        description = {"Train a semantic-ID model on a Parquet item table (id + embedding columns) data-parallel",
            "on Spark: the TIGER RQ-VAE (--method rqvae, k-means initialised codebooks) or residual k-means",
            "(--method rq-kmeans). Rows with a wrong length, NaN/Inf or null values go to <out>/items/_rejects.",
            "Resumes from the run's last checkpoint. See docs/semantic-ids.md."})
public final class TrainSidCommand implements Callable<Integer> {

    @Option(names = "--conf", defaultValue = "conf/sid/tiger.yaml", description = "Run config YAML (default ${DEFAULT-VALUE})")
    Path conf;

    @Option(names = "--data", required = true, description = "Item table URI (Parquet file or folder)")
    String data;

    @Option(names = "--out", required = true, description = "Run directory URI (prepared items, checkpoints, metrics, plots)")
    String out;

    @Option(names = "--method", description = "rqvae or rq-kmeans (default: the config's model.method)")
    String method;

    @Mixin
    TrainingFlags training = new TrainingFlags();

    @Override
    public Integer call() throws Exception {
        // the config is bound, validated and checked against the ranks before Spark starts
        SidRunConfig config = load(conf, training.overrides(), method);
        TrainingJob.Options o = training.job(SidStage.of(config, out), out);
        return TrainingFlags.run("train-sid", o, config.train().computePrecision(), config.model().method(),
                spark -> SidStage.train(spark, config, data, o));
    }

    /** The run config of a file with {@code overrides} and {@code --method} (null: the file's). */
    static SidRunConfig load(Path conf, List<String> overrides, String method) throws java.io.IOException {
        List<String> sets = new ArrayList<>(overrides);
        if (method != null) {
            if (!method.equals(SidModelConfig.RQVAE) && !method.equals(SidModelConfig.RQ_KMEANS)) {
                throw new IllegalArgumentException("--method must be rqvae or rq-kmeans, got " + method);
            }
            sets.add("model.method=" + method);
        }
        return SidRunConfig.load(conf, sets);
    }
}
