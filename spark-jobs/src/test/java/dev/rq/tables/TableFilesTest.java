package dev.rq.tables;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rq.io.StagedOutput;
import dev.rq.jobs.SparkSessions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link TableFiles}: every column type it supports round-trips through Spark, one file per
 * non-empty task, and a table of more files than Spark lists on the driver (32) is read back from
 * its file list on a Kryo-registration-required session (Spark then lists them in a job).
 */
class TableFilesTest {

    private static SparkSession spark;
    @TempDir Path tmp;

    @BeforeAll
    static void start() {
        spark = SparkSessions.getOrCreate("test-table-files", 2);
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    @Test
    void writesEveryTypeOneFilePerTaskAndReadsManyFilesBack() throws Exception {
        StructType schema = DataTypes.createStructType(List.of(
                DataTypes.createStructField("id", DataTypes.LongType, false),
                DataTypes.createStructField("name", DataTypes.StringType, true),
                DataTypes.createStructField("codes", DataTypes.createArrayType(DataTypes.IntegerType, false), false),
                DataTypes.createStructField("x", DataTypes.createArrayType(DataTypes.FloatType, true), true),
                DataTypes.createStructField("f", DataTypes.FloatType, true),
                DataTypes.createStructField("d", DataTypes.DoubleType, true),
                DataTypes.createStructField("b", DataTypes.ByteType, true),
                DataTypes.createStructField("bin", DataTypes.BinaryType, true)));
        List<Row> rows = new ArrayList<>();
        for (long i = 0; i < 200; i++) {
            rows.add(RowFactory.create(i, i % 7 == 0 ? null : "n" + i, new int[] {(int) i, (int) (2 * i)},
                    i % 5 == 0 ? null : new float[] {i, 0.5f}, 1.5f * i, 0.25 * i, (byte) (i % 100),
                    new byte[] {(byte) i}));
        }
        Dataset<Row> df = spark.createDataFrame(rows, schema).repartition(40);
        String root = tmp.resolve("t").toString();
        List<TableFiles.DataFile> files;
        try (StagedOutput out = StagedOutput.begin(root, spark.sparkContext().hadoopConfiguration(),
                new StagedOutput.Spec("_m.json", "--output", "a test table", false))) {
            files = TableFiles.write(df.toJavaRDD(), out, "data", schema, spark.sparkContext().hadoopConfiguration());
            out.commit(TableFiles.paths(files), "{}".getBytes());
        }
        assertThat(files).hasSizeGreaterThan(32);
        assertThat(files.stream().mapToLong(TableFiles.DataFile::rows).sum()).isEqualTo(200);
        List<Row> back = spark.read().parquet(files.stream().map(f -> root + "/" + f.path()).toArray(String[]::new))
                .orderBy("id").collectAsList();
        assertThat(back).hasSize(200);
        Row r = back.get(10);
        assertThat(r.getLong(0)).isEqualTo(10);
        assertThat(r.getString(1)).isEqualTo("n10");
        assertThat(r.<Integer>getList(2)).containsExactly(10, 20);
        assertThat(r.isNullAt(3)).isTrue();
        assertThat(back.get(11).<Float>getList(3)).containsExactly(11f, 0.5f);
        assertThat(r.getFloat(4)).isEqualTo(15f);
        assertThat(r.getDouble(5)).isEqualTo(2.5);
        assertThat(r.getByte(6)).isEqualTo((byte) 10);
        assertThat((byte[]) r.get(7)).containsExactly((byte) 10);
        assertThat(back.get(14).isNullAt(1)).isTrue();
    }
}
