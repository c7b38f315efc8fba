package dev.rq.cli;

import dev.rq.jobs.tokenize.TokenizeJob;
import dev.rq.model.engine.Precision;
import dev.rq.tables.Variant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code rq tokenize}: encode a canonical image dataset into a token table (Spark job). */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
        header = "Encode every image of a dataset into a Parquet token table.",
        description = {"Encode every image of a dataset with an RQ-VAE checkpoint into a Parquet token table",
            "(one row per image and variant, _tokens_manifest.json with provenance; see docs/tokens.md).",
            "Runs on local[--workers] unless spark-submit sets a master."})
public final class TokenizeCommand implements Callable<Integer> {

    @Option(names = "--checkpoint", required = true, description = "RQ-VAE checkpoint directory URI")
    String checkpoint;

    @Option(names = "--data", required = true,
            description = "Dataset root (folder of split folders) or one split folder (rq ingest output)")
    String data;

    @Option(names = "--output", required = true, description = "Token table URI (replaced atomically if it exists)")
    String output;

    @Option(names = "--variants", defaultValue = "center",
            description = "Comma-separated views per image: center, hflip (default ${DEFAULT-VALUE})")
    String variants;

    @Option(names = "--batch-size", defaultValue = "16", description = "Views per model call (default ${DEFAULT-VALUE})")
    int batchSize;

    @Option(names = "--workers", description = "Run on local[N] when no spark.master is set (default: all cores)")
    Integer workers;

    @Option(names = "--split", description = "Comma-separated splits to encode (default: every split)")
    String split;

    @Option(names = "--with-latents", description = "Also store the pre-quantization latents (float16)")
    boolean withLatents;

    @Option(names = "--threads", defaultValue = "0",
            description = "libtorch intra-op threads per task; concurrent tasks share the executor's model"
                    + " (default: spark.task.cpus, i.e. 1)")
    int threads;

    @Option(names = "--rows-per-task", defaultValue = "0", description = "Images per Spark task (default: automatic)")
    int rowsPerTask;

    @Mixin
    PrecisionOption precision = new PrecisionOption();

    @Override
    public Integer call() throws Exception {
        List<String> splits = split == null ? List.of()
                : new ArrayList<>(Arrays.stream(split.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList());
        TokenizeJob.Options o = new TokenizeJob.Options(checkpoint, data, output, Variant.parseList(variants),
                batchSize, splits, withLatents, threads, rowsPerTask, precision.orElse(Precision.FP32));
        try (SparkSession spark = IngestCommand.session("rq tokenize", workers)) {
            PrecisionOption.checkBeforeWork(o.precision(), spark);
            TokenizeJob.Result r = TokenizeJob.run(spark, o);
            System.out.print(r.summary());
        }
        return 0;
    }
}
