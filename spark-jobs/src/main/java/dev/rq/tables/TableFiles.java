package dev.rq.tables;

import dev.rq.io.SerializableHadoopConf;
import dev.rq.io.StagedOutput;
import java.io.IOException;
import java.io.Serializable;
import java.util.Iterator;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.function.Function2;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;

/**
 * Writes an unpartitioned Parquet table from Spark tasks straight into a {@link StagedOutput}, as
 * {@link TokenTableWriter} does for token tables: each task writes one zstd file {@code
 * <folder>/part-<task>[-<commit>].zstd.parquet} in one piece (its {@link TokenTableWriter.PartFile}) and
 * returns a {@link DataFile}; the driver lists exactly the files of the accepted attempts in the
 * output's manifest. Spark, pyarrow and pandas read the files as Spark-written Parquet. Column
 * types: those of {@link TokenTableWriter.RowWriteSupport}.
 */
public final class TableFiles implements Function2<Integer, Iterator<Row>, Iterator<TableFiles.DataFile>> {
    private static final long serialVersionUID = 1L;

    /**
     * One written file.
     *
     * @param path relative to the output root
     * @param rows rows in it
     * @param bytes its size
     */
    public record DataFile(String path, long rows, long bytes) implements Serializable {}

    private final String root;
    private final String folder;
    private final String suffix;
    private final StructType schema;
    private final SerializableHadoopConf conf;
    private final List<String> plain;

    private TableFiles(String root, String folder, String suffix, StructType schema, Configuration conf,
            List<String> plain) {
        this.root = root;
        this.folder = folder;
        this.suffix = suffix;
        this.schema = schema;
        this.conf = new SerializableHadoopConf(conf);
        this.plain = List.copyOf(plain);
    }

    /**
     * Writes {@code rows} (one Spark job); empty partitions write no file.
     *
     * @param folder the table's folder relative to {@code out.root()} ({@code ""}: the output is the table)
     * @return the files written, in task order
     */
    public static List<DataFile> write(JavaRDD<Row> rows, StagedOutput out, String folder, StructType schema,
            Configuration conf) {
        return rows.mapPartitionsWithIndex(new TableFiles(out.uri(), folder, out.nameSuffix(), schema, conf, List.of()), false)
                .collect();
    }

    /** @return the paths of {@code files} (for {@link StagedOutput#commit}) */
    public static List<String> paths(List<DataFile> files) {
        return files.stream().map(DataFile::path).toList();
    }

    /**
     * For a task that writes several tables in one pass over its rows: the writer of {@code folder}'s
     * part files; {@link #open} one part per task, then {@link Part#publish} (or {@link Part#abort}).
     */
    public static TableFiles of(StagedOutput out, String folder, StructType schema, Configuration conf) {
        return new TableFiles(out.uri(), folder, out.nameSuffix(), schema, conf, List.of());
    }

    /**
     * @param columns Parquet column paths (e.g. {@code item_id}, {@code items.list.element}) of unique
     *     values: written plain, without the dictionary Parquet would build and then abandon
     * @return this writer, writing those columns without a dictionary
     */
    public TableFiles plain(String... columns) {
        return new TableFiles(root, folder, suffix, schema, conf.get(), List.of(columns));
    }

    /** One part file being written by a task ({@link #of}). */
    public static final class Part {
        private final TokenTableWriter.PartFile file;

        private Part(TokenTableWriter.PartFile file) {
            this.file = file;
        }

        /** Appends a row (columns as for {@link TableFiles#write}). */
        public void write(Row r) throws IOException {
            file.write(r);
        }

        /** @return the finished file */
        public DataFile publish() throws IOException {
            return new DataFile(file.rel(), file.rows(), file.publish());
        }

        /** Removes the unfinished file. */
        public void abort() {
            file.abort();
        }
    }

    /** @return task {@code task}'s part file, open for writing */
    public Part open(int task) throws IOException {
        Configuration c = conf.get();
        Path base = new Path(root);
        String part = TokenTableWriter.partName(task, suffix);
        String rel = folder.isEmpty() ? part : folder + "/" + part;
        return new Part(TokenTableWriter.PartFile.open(base.getFileSystem(c), base, rel, schema, -1, c,
                0, plain)); // Parquet's default row groups
    }

    @Override
    public Iterator<DataFile> call(Integer task, Iterator<Row> rows) throws IOException {
        if (!rows.hasNext()) {
            return List.<DataFile>of().iterator();
        }
        Part f = open(task);
        try {
            while (rows.hasNext()) {
                f.write(rows.next());
            }
            return List.of(f.publish()).iterator();
        } catch (IOException | RuntimeException e) {
            f.abort();
            throw e;
        }
    }
}
