package dev.rq.cli;

import dev.rq.jobs.sid.AssignSidJob;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import dev.rq.model.engine.Precision;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code rq assign-sid}: semantic IDs for every item of an item table (Spark job). */
@Command(name = "assign-sid", mixinStandardHelpOptions = true,
        header = "Give every item of a Parquet item table its semantic ID.",
        description = {"Give every item of a Parquet item table its semantic ID with a semantic-ID checkpoint",
            "(rq train-sid): <out>/ids (item_id, sid, dedup, sid_text), <out>/reverse (sid -> items),",
            "<out>/codebooks.safetensors, <out>/_rejects, <out>/_sid_manifest.json (written last).",
            "--existing extends an earlier ID table: its items keep their IDs. See docs/semantic-ids.md."})
public final class AssignSidCommand implements Callable<Integer> {

    @Option(names = "--checkpoint", required = true, description = "Semantic-ID checkpoint URI (rq train-sid)")
    String checkpoint;

    @Option(names = "--data", required = true, description = "Item table URI (Parquet file or folder)")
    String data;

    @Option(names = "--output", required = true,
            description = "ID table URI (an earlier ID table there is replaced atomically)")
    String output;

    @Option(names = "--existing", description = "Earlier ID table to extend (same checkpoint): its IDs are kept")
    String existing;

    @Option(names = "--id-column", description = "Id column (default: the checkpoint's data.id_column)")
    String idColumn;

    @Option(names = "--embedding-column", description = "Embedding column (default: the checkpoint's data.embedding_column)")
    String embeddingColumn;

    @Option(names = "--label-column", description = "Label column for prefix purity (default: the checkpoint's"
            + " data.label_column; '' for none)")
    String labelColumn;

    @Option(names = "--batch-size", defaultValue = "4096", description = "Items per model call (default ${DEFAULT-VALUE})")
    int batchSize;

    @Option(names = "--recon-sample", defaultValue = "16",
            description = "Reconstruct one item in N (by a hash of its id) for the reconstruction MSE and cosine"
                    + " statistics; 1 = all (the decoder costs as much as the encoder; default ${DEFAULT-VALUE})")
    int reconSample;

    @Option(names = "--workers", description = "Run on local[N] when no spark.master is set (default: all cores)")
    Integer workers;

    @Option(names = "--threads", defaultValue = "0",
            description = "libtorch intra-op threads per task (default: spark.task.cpus, i.e. 1)")
    int threads;

    @Mixin
    PrecisionOption precision = new PrecisionOption();

    @Override
    public Integer call() throws Exception {
        AssignSidJob.Options o = new AssignSidJob.Options(checkpoint, data, output, existing, idColumn, embeddingColumn,
                labelColumn, batchSize, threads, reconSample, precision.orElse(Precision.FP32));
        try (SparkSession spark = IngestCommand.session("rq assign-sid", workers)) {
            PrecisionOption.checkBeforeWork(o.precision(), spark);
            System.out.print(AssignSidJob.run(spark, o).summary());
        }
        return 0;
    }
}
