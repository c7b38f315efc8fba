package dev.rq.data.dataset;

import java.io.Closeable;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.hadoop.util.HadoopOutputFile;
import org.apache.parquet.io.api.Binary;

/**
 * Writes one canonical data shard with parquet-hadoop (not Spark's writer, which cannot set footer
 * key-value metadata), including the {@code huggingface} footer key. Snappy compression (pyarrow's
 * default), overwrite mode (a retried task rewrites its file).
 *
 * <p>Row groups are the loader's unit of I/O and of shuffling ({@code docs/data.md} §5): they are
 * closed as soon as they hold {@code rowGroupBytes} (the size is checked after every row, not
 * only every 100 rows as parquet-hadoop does by default). No column statistics are kept for the
 * image bytes (min/max of JPEG bytes mean nothing and would bloat the footer).
 */
public final class ShardWriter implements Closeable {
    /** Largest row-group size in bytes that ingest chooses by itself. */
    public static final long MAX_ROW_GROUP_BYTES = 8L << 20;
    /** Smallest row-group size in bytes that ingest chooses by itself. */
    public static final long MIN_ROW_GROUP_BYTES = 1L << 20;
    /** Row groups per split that ingest aims for when the split is small. */
    public static final long TARGET_ROW_GROUPS = 1024;

    private final ParquetWriter<Group> writer;
    private final SimpleGroupFactory factory = new SimpleGroupFactory(DatasetLayout.SHARD_SCHEMA);
    private long rows;

    /**
     * @param file the shard file to create (overwritten if present)
     * @param conf Hadoop configuration for the file system
     * @param classNames class names for the footer (may be empty)
     */
    public ShardWriter(Path file, Configuration conf, List<String> classNames) throws IOException {
        this(file, conf, classNames, MAX_ROW_GROUP_BYTES);
    }

    /**
     * @param file the shard file to create (overwritten if present)
     * @param conf Hadoop configuration for the file system
     * @param classNames class names for the footer (may be empty)
     * @param rowGroupBytes bytes per row group (about: a row group is closed once it exceeds this
     *     less two rows)
     */
    public ShardWriter(Path file, Configuration conf, List<String> classNames, long rowGroupBytes)
            throws IOException {
        this.writer =
                ExampleParquetWriter.builder(HadoopOutputFile.fromPath(file, conf))
                        .withType(DatasetLayout.SHARD_SCHEMA)
                        .withConf(conf)
                        .withWriteMode(ParquetFileWriter.Mode.OVERWRITE)
                        .withCompressionCodec(CompressionCodecName.SNAPPY)
                        .withRowGroupSize(rowGroupBytes)
                        .withMinRowCountForPageSizeCheck(1)
                        .withStatisticsEnabled(DatasetLayout.IMAGE + "." + DatasetLayout.BYTES, false)
                        .withExtraMetaData(
                                Map.of(
                                        DatasetLayout.HF_METADATA_KEY,
                                        DatasetLayout.huggingFaceMetadata(classNames)))
                        .build();
    }

    /**
     * Appends one row.
     *
     * @param path the image's source path / key (stored in {@code image.path}); may be null
     * @param bytes the encoded image
     * @param label class id, or -1
     */
    public void write(String path, byte[] bytes, long label) throws IOException {
        Group g = factory.newGroup();
        Group image = g.addGroup(DatasetLayout.IMAGE);
        image.add(DatasetLayout.BYTES, Binary.fromConstantByteArray(bytes));
        if (path != null) {
            image.add(DatasetLayout.PATH, path);
        }
        g.add(DatasetLayout.LABEL, label);
        writer.write(g);
        rows++;
    }

    /**
     * The row-group size ingest uses for a split of {@code inputBytes}: about {@link
     * #TARGET_ROW_GROUPS} row groups, each between {@link #MIN_ROW_GROUP_BYTES} and {@link
     * #MAX_ROW_GROUP_BYTES} (ImageNet's 140 GB: 8 MiB, about 75 images per row group).
     */
    public static long autoRowGroupBytes(long inputBytes) {
        return Math.max(MIN_ROW_GROUP_BYTES, Math.min(MAX_ROW_GROUP_BYTES, inputBytes / TARGET_ROW_GROUPS));
    }

    /** Rows written so far. */
    public long rows() {
        return rows;
    }

    @Override
    public void close() throws IOException {
        writer.close();
    }
}
