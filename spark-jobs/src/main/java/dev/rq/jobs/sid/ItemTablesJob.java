package dev.rq.jobs.sid;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.data.ingest.IdxToImageFolder;
import dev.rq.io.StagedOutput;
import dev.rq.jobs.JobGroup;
import dev.rq.model.sid.SyntheticItems;
import dev.rq.tables.TableFiles;
import java.io.DataInputStream;
import java.io.FileInputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.zip.GZIPInputStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Item tables for semantic-ID runs ({@code rq sid-items}): Fashion-MNIST as item embeddings (the
 * embedded default of {@code rq sid-quickstart}) and a synthetic Gaussian-mixture table of any size
 * ({@link SyntheticItems}) for scale runs. Both write {@code item_id long, embedding array<float>,
 * label long, label_name string} Parquet, committed like every output of this project ({@link
 * StagedOutput}: each task's file written once, then {@value #MARKER} listing the files, last; no
 * directory rename): any Parquet reader reads the folder ({@code _} files are not data). An existing
 * {@code out} is refused.
 */
public final class ItemTablesJob {

    /** Where Debian's {@code dataset-fashion-mnist} package puts the IDX files. */
    public static final String FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

    static final StructType SCHEMA = DataTypes.createStructType(List.of(
            DataTypes.createStructField("item_id", DataTypes.LongType, false),
            DataTypes.createStructField("embedding", DataTypes.createArrayType(DataTypes.FloatType, false), false),
            DataTypes.createStructField("label", DataTypes.LongType, false),
            DataTypes.createStructField("label_name", DataTypes.StringType, false)));

    /** The commit marker: JSON listing the data files (written last; Hadoop's name for a finished output). */
    public static final String MARKER = "_SUCCESS";

    static final StagedOutput.Spec OUTPUT = new StagedOutput.Spec(MARKER, "--out", "an item table", false);

    private static final ObjectMapper JSON = new ObjectMapper();

    private ItemTablesJob() {}

    /**
     * Fashion-MNIST (train then test, 70,000 items): item_id = index (test items follow the 60,000
     * train items), embedding = the 784 pixels / 255, L2-normalised, label = class, label_name = its
     * name.
     *
     * @param idxDir folder with {@code train-images-idx3-ubyte.gz} etc.
     * @return items written
     */
    public static long fashionMnist(SparkSession spark, String idxDir, String out) throws IOException {
        List<Row> rows = new ArrayList<>(70_000);
        for (String prefix : List.of("train", "t10k")) {
            Path images = Path.of(idxDir, prefix + "-images-idx3-ubyte.gz");
            Path labels = Path.of(idxDir, prefix + "-labels-idx1-ubyte.gz");
            if (!Files.exists(images) || !Files.exists(labels)) {
                throw new FileNotFoundException(images + " not found: install Fashion-MNIST with"
                        + " scripts/build-fashion-mnist-items.sh (Debian package dataset-fashion-mnist)");
            }
            readIdx(images, labels, rows);
        }
        write(spark, spark.createDataFrame(rows, SCHEMA).repartition(2).toJavaRDD(), out);
        return rows.size();
    }

    private static void readIdx(Path images, Path labels, List<Row> rows) throws IOException {
        try (DataInputStream im = open(images); DataInputStream lb = open(labels)) {
            if (im.readInt() != 0x0803 || lb.readInt() != 0x0801) {
                throw new IOException(images + " / " + labels + " is not an IDX image/label pair");
            }
            int n = im.readInt();
            int pixels = im.readInt() * im.readInt();
            if (lb.readInt() != n) {
                throw new IOException(images + " and " + labels + " hold different counts");
            }
            byte[] px = new byte[pixels];
            for (int i = 0; i < n; i++) {
                im.readFully(px);
                int label = lb.readUnsignedByte();
                float[] e = new float[pixels];
                double norm = 0;
                for (int j = 0; j < pixels; j++) {
                    e[j] = (px[j] & 0xff) / 255f;
                    norm += (double) e[j] * e[j];
                }
                float inv = (float) (1 / Math.max(Math.sqrt(norm), 1e-12));
                for (int j = 0; j < pixels; j++) {
                    e[j] *= inv;
                }
                rows.add(RowFactory.create((long) rows.size(), e, (long) label,
                        IdxToImageFolder.FASHION_MNIST.get(label).substring(2)));
            }
        }
    }

    private static DataInputStream open(Path f) throws IOException {
        InputStream in = new GZIPInputStream(new FileInputStream(f.toFile()), 1 << 16);
        return new DataInputStream(new java.io.BufferedInputStream(in, 1 << 16));
    }

    /**
     * A synthetic table of {@code n} items ({@link SyntheticItems}: two-level Gaussian mixture,
     * L2-normalised), generated in {@code partitions} Spark tasks (each item a pure function of the
     * seed and its index).
     *
     * @param classes mixture components (labels)
     */
    public static long synthetic(SparkSession spark, long n, int dim, int classes, long seed, int partitions,
            String out) throws IOException {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        List<long[]> ranges = new ArrayList<>();
        for (int p = 0; p < partitions; p++) {
            ranges.add(new long[] {n * p / partitions, n * (p + 1) / partitions});
        }
        int perGroup = Math.max(1, (int) Math.round(Math.sqrt(classes)));
        JavaRDD<Row> rows = jsc.parallelize(ranges, partitions).mapPartitions((Iterator<long[]> it) -> {
            SyntheticItems gen = new SyntheticItems(seed, dim, classes, perGroup, 0.35);
            long[] r = it.next();
            return new Iterator<Row>() {
                long i = r[0];

                @Override
                public boolean hasNext() {
                    return i < r[1];
                }

                @Override
                public Row next() {
                    float[] e = new float[dim];
                    gen.embedding(i, e, 0);
                    int label = gen.label(i);
                    return RowFactory.create(i++, e, (long) label, "class_" + label);
                }
            };
        });
        long written = write(spark, rows, out);
        if (written != n) {
            throw new IllegalStateException("wrote " + written + " items to " + out + ", expected " + n);
        }
        return n;
    }

    /** Writes {@code rows} (schema {@link #SCHEMA}) as the item table {@code out}; @return the rows written */
    private static long write(SparkSession spark, JavaRDD<Row> rows, String out) throws IOException {
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        org.apache.hadoop.fs.Path root = new org.apache.hadoop.fs.Path(out);
        if (root.getFileSystem(conf).exists(root)) {
            throw new IllegalArgumentException("--out " + out + " exists: choose another --out or remove it");
        }
        return JobGroup.run(spark, "rq-sid-items", "rq sid-items -> " + out, false, () -> commit(rows, out, conf));
    }

    private static long commit(JavaRDD<Row> rows, String out, Configuration conf) throws IOException {
        try (StagedOutput staged = StagedOutput.begin(out, conf, OUTPUT)) {
            List<TableFiles.DataFile> files = TableFiles.write(rows, staged, "", SCHEMA, conf);
            ObjectNode marker = JSON.createObjectNode();
            marker.put("format", "rq-items");
            marker.put("items", files.stream().mapToLong(TableFiles.DataFile::rows).sum());
            var list = marker.putArray("files");
            files.forEach(f -> list.addObject().put("path", f.path()).put("rows", f.rows()));
            staged.commit(TableFiles.paths(files), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(marker));
            return marker.get("items").asLong();
        }
    }
}
