package dev.rq.cli;

import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.sid.SidQuickstartJob;
import dev.rq.model.config.SidRunConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code rq sid-quickstart}: semantic IDs with both methods on Fashion-MNIST (or any item table) and a report. */
@Command(name = "sid-quickstart", mixinStandardHelpOptions = true,
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

    @Option(names = "--workers", defaultValue = "2", description = "Local Spark workers = training ranks (default ${DEFAULT-VALUE})")
    int workers;

    @Option(names = "--max-steps", description = "Override train.max_steps of the RQ-VAE")
    Integer maxSteps;

    @Option(names = "--set", description = "Config override key=value (repeatable)")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--collective-timeout", defaultValue = "PT120S",
            description = "Training: a silent peer fails the stage after this long (default ${DEFAULT-VALUE})")
    Duration collectiveTimeout;

    @Override
    public Integer call() throws Exception {
        SidRunConfig config = TrainSidCommand.load(conf, overrides, null, maxSteps, null); // fails before Spark
        SparkSession spark = SparkSessions.getOrCreate("sid-quickstart", workers);
        try {
            SidQuickstartJob.run(spark, new SidQuickstartJob.Options(config, conf.toString(), data, out, workers,
                    collectiveTimeout), System.out);
            return 0;
        } finally {
            spark.stop();
        }
    }
}
