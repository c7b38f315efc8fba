package dev.rq.cli;

import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.sample.SampleJob;
import dev.rq.model.engine.Precision;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code rq sample}: class-conditional images from an RQ-Transformer checkpoint (Spark job). */
@Command(name = "sample", mixinStandardHelpOptions = true,
        header = "Sample images from an RQ-Transformer checkpoint.",
        description = {"Sample images from an RQ-Transformer checkpoint: KV-cached batched sampling spread over",
            "Spark tasks, reproducible per (seed, class, index). Writes images/class-<c>/<i>.png,",
            "grids/class-<c>.png, index.html and codes/ (token table with the sampling settings in its manifest);",
            "see docs/sampling.md. Runs on local[--workers] unless spark-submit sets a master."})
public final class SampleCommand implements Callable<Integer> {

    @Option(names = "--checkpoint", required = true, description = "RQ-Transformer (stage-2) checkpoint URI")
    String checkpoint;

    @Option(names = "--vae", description = "RQ-VAE (stage-1) checkpoint URI (default: vae.checkpoint of the"
            + " checkpoint's config)")
    String vae;

    @Option(names = "--classes", defaultValue = "all",
            description = "Comma-separated class ids, or 'all' (default ${DEFAULT-VALUE})")
    String classes;

    @Option(names = "--per-class", required = true, description = "Samples per class")
    int perClass;

    @Option(names = "--output", required = true, description = "Output folder URI (replaced atomically if it exists)")
    String output;

    @Option(names = "--temperature", description = "Sampling temperature (default: the checkpoint config's)")
    Double temperature;

    @Option(names = "--top-k", description = "Top-k, 0 = none (default: the checkpoint config's)")
    Integer topK;

    @Option(names = "--top-p", description = "Top-p (nucleus) mass in (0, 1] (default: the checkpoint config's)")
    Double topP;

    @Option(names = "--cfg-scale", description = "Classifier-free guidance scale, 1 = none (default: the checkpoint"
            + " config's sampling.cfg_scale; other values need a model trained with model.cond_drop_prob > 0)")
    Double cfgScale;

    @Option(names = "--seed", defaultValue = "0", description = "Run seed (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--batch-size", description = "Samples per model call (default: sampling.batch_size of the config)")
    Integer batchSize;

    @Option(names = "--workers", description = "Run on local[N] when no spark.master is set (default: all cores)")
    Integer workers;

    @Option(names = "--threads", defaultValue = "0",
            description = "libtorch intra-op threads per model call, i.e. per task (default: the executor's cores"
                    + " divided among its task slots: every task slot samples concurrently)")
    int threads;

    @Mixin
    PrecisionOption precision = new PrecisionOption();

    @Override
    public Integer call() throws Exception {
        SampleJob.Options o = new SampleJob.Options(checkpoint, vae, classes, perClass, output, temperature, topK, topP,
                seed, batchSize, threads, precision.orElse(Precision.FP32), cfgScale);
        SparkSession spark = SparkSessions.getOrCreate("sample",
                workers == null ? Runtime.getRuntime().availableProcessors() : workers);
        try {
            PrecisionOption.checkBeforeWork(o.precision(), spark);
            SampleJob.Result r = SampleJob.run(spark, o);
            System.out.print(r.summary());
            return 0;
        } finally {
            spark.stop();
        }
    }
}
