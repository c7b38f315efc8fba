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
 * default), 64 MiB row groups, overwrite mode (a retried task rewrites its file).
 */
public final class ShardWriter implements Closeable {
    /** Row-group size in bytes. */
    public static final int ROW_GROUP_BYTES = 64 << 20;

    private final ParquetWriter<Group> writer;
    private final SimpleGroupFactory factory = new SimpleGroupFactory(DatasetLayout.SHARD_SCHEMA);
    private long rows;

    /**
     * @param file the shard file to create (overwritten if present)
     * @param conf Hadoop configuration for the file system
     * @param classNames class names for the footer (may be empty)
     */
    public ShardWriter(Path file, Configuration conf, List<String> classNames) throws IOException {
        this.writer =
                ExampleParquetWriter.builder(HadoopOutputFile.fromPath(file, conf))
                        .withType(DatasetLayout.SHARD_SCHEMA)
                        .withConf(conf)
                        .withWriteMode(ParquetFileWriter.Mode.OVERWRITE)
                        .withCompressionCodec(CompressionCodecName.SNAPPY)
                        .withRowGroupSize(ROW_GROUP_BYTES)
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

    /** Rows written so far. */
    public long rows() {
        return rows;
    }

    @Override
    public void close() throws IOException {
        writer.close();
    }
}
