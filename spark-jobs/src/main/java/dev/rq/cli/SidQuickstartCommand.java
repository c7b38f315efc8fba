package dev.rq.cli;

import dev.rq.jobs.SparkSessions;
import dev.rq.pipelines.sidquickstart.SidQuickstartJob;
import dev.rq.jobs.train.SidStage;
import dev.rq.model.config.SidModelConfig;
import dev.rq.model.config.SidRunConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code rq sid-quickstart}: semantic IDs with both methods on Fashion-MNIST (or any item table) and a report. */
@Command(name = "sid-quickstart", mixinStandardHelpOptions = true,
        header = "Semantic IDs end to end on Fashion-MNIST, both methods.",
        description = {"Semantic IDs end to end on local Spark: Fashion-MNIST as item embeddings (or --data),",
            "train-sid with the RQ-VAE and with residual k-means, assign-sid with both, and <out>/report.html +",
            "report.json side by side. Rerunning into the same --out skips what is done. See docs/semantic-ids.md."})
public final class SidQuickstartCommand implements Callable<Integer> {

    @Option(names = "--out", defaultValue = "runs/sid-quickstart", description = "Output folder (default ${DEFAULT-VALUE})")
    String out;

    @Option(names = "--conf", defaultValue = "conf/sid/fashion-mnist.yaml",
            description = "Run config YAML (default ${DEFAULT-VALUE})")
    Path conf;

    @Option(names = "--data", description = "Item table URI (default: Fashion-MNIST from the Debian package)")
    String data;

    @Mixin
    TrainingFlags training = new TrainingFlags(2);

    @Override
    public Integer call() throws Exception {
        if (training.faultInjection != null) {
            throw new IllegalArgumentException("--fault-injection is for train-vae, train-transformer and train-sid");
        }
        int workers = training.workers();
        // bound, validated and checked against the ranks for both methods before Spark starts
        SidRunConfig config = TrainSidCommand.load(conf, training.overrides(), null);
        for (String method : List.of(SidModelConfig.RQVAE, SidModelConfig.RQ_KMEANS)) {
            SidStage.of(config.withMethod(method), out).check(workers);
        }
        SparkSession spark = SparkSessions.getOrCreate("sid-quickstart", workers);
        try {
            SidQuickstartJob.run(spark, new SidQuickstartJob.Options(config, conf.toString(), data, out, workers,
                    training.collectiveTimeout, training.driverRetries), System.out);
            return 0;
        } finally {
            spark.stop();
        }
    }
}
