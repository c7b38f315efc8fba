package dev.rq.cli;

import dev.rq.jobs.eval.EvalJob;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code rq eval}: reconstruction quality of an RQ-VAE checkpoint on a dataset split (Spark job). */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = {"Evaluate an RQ-VAE checkpoint on a dataset split: per-image PSNR, SSIM and codes",
            "(Parquet), rFID with the FID Inception network (eval.inception_weights), codebook usage and",
            "perplexity per depth, summary.json and report.html (see docs/eval.md).",
            "Runs on local[--workers] unless spark-submit sets a master."})
public final class EvalCommand implements Callable<Integer> {

    @Option(names = "--checkpoint", required = true, description = "RQ-VAE checkpoint directory URI")
    String checkpoint;

    @Option(names = "--data", required = true,
            description = "Dataset root (folder of split folders) or one split folder (rq ingest output)")
    String data;

    @Option(names = "--split", defaultValue = "val",
            description = "Split to evaluate when --data is a dataset root (default ${DEFAULT-VALUE})")
    String split;

    @Option(names = "--output", required = true, description = "Output folder URI (replaced atomically if it exists)")
    String output;

    @Option(names = "--set", description = "eval.<key>=<value> over the checkpoint config's eval section, e.g."
            + " eval.inception_weights=hdfs:///weights/pt_inception-2015-12-05.safetensors (repeatable)")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--limit", defaultValue = "0", description = "Evaluate only the first N images (default: all)")
    long limit;

    @Option(names = "--workers", description = "Run on local[N] when no spark.master is set (default: all cores)")
    Integer workers;

    @Option(names = "--threads", defaultValue = "0",
            description = "libtorch intra-op threads per task (default: spark.task.cpus, i.e. 1)")
    int threads;

    @Option(names = "--rows-per-task", defaultValue = "0", description = "Images per Spark task (default: automatic)")
    int rowsPerTask;

    @Override
    public Integer call() throws Exception {
        EvalJob.Options o = new EvalJob.Options(checkpoint, data, split, output, overrides, limit, threads,
                rowsPerTask);
        try (SparkSession spark = IngestCommand.session("rq eval", workers)) {
            System.out.print(EvalJob.run(spark, o).text());
        }
        return 0;
    }
}
