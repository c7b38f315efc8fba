package dev.rq.data.dataset;

import java.io.Closeable;
import java.io.IOException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.hadoop.util.HadoopOutputFile;

/** Writes a {@code _rejects/} Parquet file: {@code path, reason, size, detail}. */
public final class RejectsWriter implements Closeable {
    private final ParquetWriter<Group> writer;
    private final SimpleGroupFactory factory = new SimpleGroupFactory(DatasetLayout.REJECTS_SCHEMA);

    public RejectsWriter(Path file, Configuration conf) throws IOException {
        this.writer =
                ExampleParquetWriter.builder(HadoopOutputFile.fromPath(file, conf))
                        .withType(DatasetLayout.REJECTS_SCHEMA)
                        .withConf(conf)
                        .withWriteMode(ParquetFileWriter.Mode.OVERWRITE)
                        .withCompressionCodec(CompressionCodecName.SNAPPY)
                        .build();
    }

    /**
     * @param path source path or key of the rejected unit
     * @param reason reject reason code
     * @param size size in bytes of the unit (0 when unknown)
     * @param detail decoder message, may be null
     */
    public void write(String path, String reason, long size, String detail) throws IOException {
        Group g = factory.newGroup();
        if (path != null) {
            g.add("path", path);
        }
        g.add("reason", reason);
        g.add("size", size);
        if (detail != null) {
            g.add("detail", detail.length() > 1000 ? detail.substring(0, 1000) : detail);
        }
        writer.write(g);
    }

    @Override
    public void close() throws IOException {
        writer.close();
    }
}
