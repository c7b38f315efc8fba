package dev.rq.cli;

import dev.rq.jobs.decode.DecodeJob;
import dev.rq.model.engine.Precision;
import dev.rq.tables.Variant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code rq decode}: PNGs, a grid and an HTML index from the rows of a token table. */
@Command(name = "decode", mixinStandardHelpOptions = true,
        header = "Decode rows of a token table back into PNG images.",
        description = {"Decode rows of a token table back into images with the RQ-VAE:",
            "<output>/<split>/NNNNN_<id>_v<variant>.png, grid.png and index.html."})
public final class DecodeCommand implements Callable<Integer> {

    @Option(names = "--checkpoint", required = true, description = "RQ-VAE checkpoint directory URI")
    String checkpoint;

    @Option(names = "--tokens", required = true, description = "Token table URI")
    String tokens;

    @Option(names = "--output", required = true, description = "Output folder URI")
    String output;

    @Option(names = "--limit", defaultValue = "64", description = "Rows to decode, the first in order (default ${DEFAULT-VALUE}; 0 = every row)")
    int limit;

    @Option(names = "--split", description = "Only rows of this split")
    String split;

    @Option(names = "--variant", description = "Only rows of this variant (center, hflip or an id)")
    String variant;

    @Option(names = "--force", description = "Decode even if the checkpoint's codebook differs from the table's")
    boolean force;

    @Option(names = "--threads", defaultValue = "0", description = "libtorch intra-op threads per task (default: spark.task.cpus)")
    int threads;

    @Option(names = "--depths", split = ",", paramLabel = "K",
            description = "Decode with the first K code levels, for each K listed (e.g. 1,2,3,4: coarse-to-fine"
                    + " reconstructions; grid.png shows one row per image); default: all levels")
    List<Integer> depths = new ArrayList<>();

    @Mixin
    PrecisionOption precision = new PrecisionOption();

    @Override
    public Integer call() throws Exception {
        Integer v = variant == null ? null : Variant.parseList(variant).get(0).id;
        Precision p = precision.orElse(Precision.FP32);
        try (SparkSession spark = IngestCommand.session("rq decode", null)) {
            PrecisionOption.checkBeforeWork(p, spark);
            DecodeJob.Result r = DecodeJob.run(spark,
                    new DecodeJob.Options(checkpoint, tokens, output, limit, split, v, force, threads, depths, p));
            System.out.printf("decoded %d rows into %s (grid.png, index.html)%n", r.count(), output);
        }
        return 0;
    }
}
