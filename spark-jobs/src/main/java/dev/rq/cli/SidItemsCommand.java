package dev.rq.cli;

import dev.rq.jobs.sid.ItemTablesJob;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code rq sid-items}: write an item table (Fashion-MNIST or synthetic) for semantic-ID runs. */
@Command(name = "sid-items", mixinStandardHelpOptions = true,
        header = "Write an item table (Fashion-MNIST or synthetic items).",
        description = {"Write a Parquet item table (item_id, embedding array<float>, label, label_name):",
            "--source fashion-mnist (70,000 items x 784, from Debian's dataset-fashion-mnist files) or",
            "--source synthetic (a Gaussian mixture, any --items x --dim, e.g. 1,000,000 x 768 for scale runs)."})
public final class SidItemsCommand implements Callable<Integer> {

    @Option(names = "--source", required = true, description = "fashion-mnist or synthetic")
    String source;

    @Option(names = "--out", required = true, description = "Output URI (must not exist)")
    String out;

    @Option(names = "--items", defaultValue = "1000000", description = "synthetic: items (default ${DEFAULT-VALUE})")
    long items;

    @Option(names = "--dim", defaultValue = "768", description = "synthetic: embedding dimension (default ${DEFAULT-VALUE})")
    int dim;

    @Option(names = "--classes", defaultValue = "1000", description = "synthetic: mixture components (default ${DEFAULT-VALUE})")
    int classes;

    @Option(names = "--seed", defaultValue = "0", description = "synthetic: seed (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--partitions", defaultValue = "16", description = "synthetic: output files (default ${DEFAULT-VALUE})")
    int partitions;

    @Option(names = "--idx-dir", defaultValue = ItemTablesJob.FASHION_MNIST_DIR,
            description = "fashion-mnist: folder of the IDX files (default ${DEFAULT-VALUE})")
    String idxDir;

    @Option(names = "--workers", description = "Run on local[N] when no spark.master is set (default: all cores)")
    Integer workers;

    @Override
    public Integer call() throws Exception {
        if (!source.equals("fashion-mnist") && !source.equals("synthetic")) {
            throw new IllegalArgumentException("--source must be fashion-mnist or synthetic, got " + source);
        }
        if (items < 1 || dim < 1 || classes < 1 || partitions < 1) {
            throw new IllegalArgumentException("--items, --dim, --classes and --partitions must be positive");
        }
        try (SparkSession spark = IngestCommand.session("rq sid-items", workers)) {
            long t0 = System.nanoTime();
            long n = source.equals("synthetic")
                    ? ItemTablesJob.synthetic(spark, items, dim, classes, seed, partitions, out)
                    : ItemTablesJob.fashionMnist(spark, idxDir, out);
            System.out.printf("wrote %d items to %s in %.1f s%n", n, out, (System.nanoTime() - t0) / 1e9);
        }
        return 0;
    }
}
