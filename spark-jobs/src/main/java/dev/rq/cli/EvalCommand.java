package dev.rq.cli;

import dev.rq.jobs.eval.EvalJob;
import dev.rq.jobs.eval.GeneratedEvalJob;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code rq eval}: reconstruction quality of an RQ-VAE checkpoint on a dataset split, or FID and
 * Inception Score of generated images (Spark jobs).
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
        header = "Reconstruction quality of a checkpoint; FID / IS of generated images.",
        description = {"Reconstruction: rq eval --checkpoint CKPT --data DATASET [--split val] --output OUT",
            "  per-image PSNR, SSIM and codes (Parquet), rFID with the FID Inception network",
            "  (eval.inception_weights), codebook usage and perplexity per depth, summary.json, report.html.",
            "Generated images: rq eval --generated SAMPLES --reference STATS.npz|DATASET --output OUT",
            "  FID and Inception Score of an rq sample output (decoded from its codes) or an image dataset.",
            "See docs/eval.md. Runs on local[--workers] unless spark-submit sets a master."})
public final class EvalCommand implements Callable<Integer> {

    @Option(names = "--checkpoint", description = "RQ-VAE checkpoint directory URI (reconstruction)")
    String checkpoint;

    @Option(names = "--data",
            description = "Dataset root (folder of split folders) or one split folder (rq ingest output) (reconstruction)")
    String data;

    @Option(names = "--generated", description = "rq sample output, token table, or dataset of generated images")
    String generated;

    @Option(names = "--generated-split", defaultValue = "val",
            description = "Split when --generated is a dataset root (default ${DEFAULT-VALUE})")
    String generatedSplit;

    @Option(names = "--reference",
            description = "Reference statistics (.npz with mu and sigma, pytorch-fid layout) or a dataset")
    String reference;

    @Option(names = "--reference-split", defaultValue = "train",
            description = "Split when --reference is a dataset root (default ${DEFAULT-VALUE})")
    String referenceSplit;

    @Option(names = "--resolution",
            description = "Side images read from files are transformed to (required for a generated dataset;"
                    + " a reference dataset defaults to the generated images' side)")
    Integer resolution;

    @Option(names = "--vae", description = "RQ-VAE decoding the generated codes (default: the table's tokenizer)")
    String vae;

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
        boolean reconstruction = checkpoint != null || data != null;
        boolean gen = generated != null || reference != null;
        if (reconstruction == gen || (reconstruction && (checkpoint == null || data == null))
                || (gen && (generated == null || reference == null))) {
            throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this),
                    "give either --checkpoint and --data (reconstruction) or --generated and --reference (FID)");
        }
        try (SparkSession spark = IngestCommand.session("rq eval", workers)) {
            EvalJob.Result r = reconstruction
                    ? EvalJob.run(spark, new EvalJob.Options(checkpoint, data, split, output, overrides, limit,
                            threads, rowsPerTask))
                    : GeneratedEvalJob.run(spark, new GeneratedEvalJob.Options(generated, generatedSplit, reference,
                            referenceSplit, resolution, vae, output, overrides, limit, threads, rowsPerTask));
            System.out.print(r.text());
        }
        return 0;
    }
}
