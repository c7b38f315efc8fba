package dev.rq.data.dataset;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * The {@code _dataset_info.json} sidecar of one split folder. It is written after every shard and
 * rejects file is complete, so its presence marks a complete split; it lists every shard with its
 * row count so readers can detect missing or foreign files.
 *
 * @param format always {@link #FORMAT}
 * @param formatVersion {@link #VERSION}; readers reject other versions
 * @param split split name ({@code train}, {@code validation}, …)
 * @param classNames class names indexed by label id (empty when unknown)
 * @param numRows rows in all shards (= accepted images)
 * @param shards shard files in index order
 * @param countsPerLabel rows per label id (key is the id as a string, {@code "-1"} = unknown)
 * @param ingest how the split was produced (counts of read / accepted / rejected files)
 * @param createdBy producing application and versions
 * @param createdAt ISO-8601 UTC timestamp
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonIgnoreProperties(ignoreUnknown = true)
public record DatasetInfo(
        String format,
        int formatVersion,
        String split,
        List<String> classNames,
        long numRows,
        List<Shard> shards,
        Map<String, Long> countsPerLabel,
        Ingest ingest,
        Map<String, String> createdBy,
        String createdAt) {

    /** Value of {@link #format()}. */
    public static final String FORMAT = "rq-image-dataset";
    /** Current sidecar version. */
    public static final int VERSION = 1;

    private static final ObjectMapper MAPPER =
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * One data shard.
     *
     * @param file file name inside the split folder
     * @param rows rows in the file
     * @param bytes file size in bytes
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Shard(String file, long rows, long bytes) {}

    /**
     * Ingest accounting: {@code accepted + rejected == read} always.
     *
     * @param source input URI
     * @param sourceFormat imagefolder, webdataset or parquet
     * @param read input units read (files; WebDataset samples; Parquet rows)
     * @param accepted units written as rows
     * @param rejected units written to {@code _rejects/}
     * @param rejectedByReason rejected units per reason code
     * @param resize shorter-side resize applied at ingest, or null
     * @param imageColumn foreign Parquet image column, or null
     * @param labelColumn foreign Parquet label column, or null
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Ingest(
            String source,
            String sourceFormat,
            long read,
            long accepted,
            long rejected,
            Map<String, Long> rejectedByReason,
            Integer resize,
            String imageColumn,
            String labelColumn) {}

    /** Serialises to pretty JSON. */
    public String toJson() {
        try {
            return MAPPER.writeValueAsString(this);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Parses JSON and checks {@link #format()} and {@link #formatVersion()}. */
    public static DatasetInfo fromJson(String json) throws IOException {
        DatasetInfo info = MAPPER.readValue(json, DatasetInfo.class);
        if (!FORMAT.equals(info.format()) || info.formatVersion() != VERSION) {
            throw new IOException("unsupported sidecar: format=" + info.format()
                    + " formatVersion=" + info.formatVersion() + " (expected " + FORMAT + " v"
                    + VERSION + ")");
        }
        return info;
    }

    /** Reads {@code <splitDir>/_dataset_info.json}. */
    public static DatasetInfo read(Path splitDir, Configuration conf) throws IOException {
        Path p = new Path(splitDir, DatasetLayout.INFO_FILE);
        FileSystem fs = p.getFileSystem(conf);
        try (InputStream in = fs.open(p)) {
            return fromJson(new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8));
        }
    }

    /** Writes {@code <splitDir>/_dataset_info.json} in one piece ({@link dev.rq.io.HadoopDir#createFile}). */
    public void write(Path splitDir, Configuration conf) throws IOException {
        Path p = new Path(splitDir, DatasetLayout.INFO_FILE);
        FileSystem fs = p.getFileSystem(conf);
        try (OutputStream out = dev.rq.io.HadoopDir.createFile(fs, p)) {
            out.write(toJson().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
    }
}
