package dev.rq.cli;

import dev.rq.data.ingest.WebDatasetReader;
import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.ingest.IngestJob;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code rq ingest}: converts ImageFolder / WebDataset / foreign Parquet input into one split of
 * the canonical dataset (see {@link IngestJob} and {@code docs/data.md}).
 */
@Command(
        name = "ingest",
        mixinStandardHelpOptions = true,
        description = {
            "Convert images into the canonical Parquet dataset (<output>/<split>/...).",
            "Every input file/sample/row is either accepted or written to _rejects/ with a reason;"
                    + " the split appears atomically with its _dataset_info.json sidecar."
        })
public final class IngestCommand implements Callable<Integer> {

    @Option(names = "--input", required = true, description = "Input URI (any Hadoop FS).")
    String input;

    @Option(names = "--format", required = true,
            description = "imagefolder | webdataset | parquet")
    IngestJob.InputFormat format;

    @Option(names = "--output", required = true, description = "Dataset root URI.")
    String output;

    @Option(names = "--split", defaultValue = "train", description = "Split name (default: ${DEFAULT-VALUE}).")
    String split;

    @Option(names = "--shards", defaultValue = "0",
            description = "Output shards; 0 = one per 256 MiB of input (default: ${DEFAULT-VALUE}).")
    int shards;

    @Spec
    CommandSpec spec;

    @Option(names = "--workers", description = "Run on local[N] when no spark.master is set (default: all cores).")
    Integer workers;

    @Option(names = "--image-column", defaultValue = "image",
            description = "Parquet input: image column, struct{bytes,path} or binary (default: ${DEFAULT-VALUE}).")
    String imageColumn;

    @Option(names = "--label-column", defaultValue = "label",
            description = "Parquet input: integer label column (default: ${DEFAULT-VALUE}).")
    String labelColumn;

    @Option(names = "--resize", description = "Resize the shorter side to S (downscale only) and re-encode.")
    Integer resize;

    @Option(names = "--row-group-mb",
            description = "Parquet row-group size in MiB (the training loader's unit of reading and shuffling);"
                    + " default: input size / 1024, between 1 and 8 MiB.")
    Double rowGroupMb;

    @Option(names = "--max-member-mb",
            description = "WebDataset input: the largest tar member read, in MiB; a larger member is skipped"
                    + " unread and its sample rejected as read_error (default: 256).")
    Double maxMemberMb;

    @Override
    public Integer call() throws Exception {
        if (rowGroupMb != null && !(rowGroupMb > 0)) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "--row-group-mb must be positive, got " + rowGroupMb);
        }
        long maxMember = maxMemberMb == null ? 0 : (long) (maxMemberMb * (1 << 20));
        if (maxMemberMb != null && !(maxMember >= 1 && maxMember <= WebDatasetReader.MAX_ARRAY_BYTES)) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "--max-member-mb must be positive and below 2048 (one Java array), got " + maxMemberMb);
        }
        IngestJob.Options o = new IngestJob.Options(input, format, output, split, shards,
                imageColumn, labelColumn, resize,
                rowGroupMb == null ? 0 : Math.max(1, (long) (rowGroupMb * (1 << 20))), maxMember);
        try (SparkSession spark = session("rq ingest", workers)) {
            IngestJob.Result r = IngestJob.run(spark, o);
            System.out.print(r.summary());
        }
        return 0;
    }

    /**
     * The project's session (Kryo with registration required; see {@link SparkSessions}) on the
     * spark-submit master, or on {@code local[workers]} (default: all cores) when none is set.
     */
    static SparkSession session(String appName, Integer workers) {
        return SparkSessions.getOrCreate(appName.replace("rq ", ""),
                workers == null ? Runtime.getRuntime().availableProcessors() : workers);
    }
}
