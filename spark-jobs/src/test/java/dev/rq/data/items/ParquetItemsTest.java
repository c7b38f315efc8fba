package dev.rq.data.items;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rq.io.SerializableHadoopConf;
import dev.rq.jobs.SparkSessions;
import dev.rq.model.config.SidDataConfig;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ParquetItems} (through {@link ItemInput#checkedRows}) gives exactly the rows of Spark's reader
 * with the SQL checks, for each layout it reads; the layouts it does not read fall back to Spark's
 * reader; a corrupt or truncated file fails naming it.
 */
class ParquetItemsTest {
    private static final int DIM = 24;
    private static SparkSession spark;

    @TempDir Path tmp;

    @BeforeAll
    static void setUp() {
        spark = SparkSessions.getOrCreate("test-parquet-items", 2);
    }

    @AfterAll
    static void tearDown() {
        spark.stop();
    }

    @AfterEach
    void reset() {
        System.clearProperty(ItemInput.FAST_PARQUET);
        spark.conf().unset("spark.sql.files.maxPartitionBytes");
    }

    /** Rows of every kind: valid, null id, null/empty/short/long embedding, NaN, null element. */
    private static List<Row> rows(int n, boolean bad, boolean stringIds) {
        List<Row> rows = new ArrayList<>();
        java.util.Random rnd = new java.util.Random(7);
        for (int i = 0; i < n; i++) {
            rows.add(row(stringIds ? "item-" + i : (Object) (long) i, floats(rnd, DIM), (long) (i % 5)));
        }
        if (bad) {
            rows.add(row(null, floats(rnd, DIM), 1L));
            rows.add(row(stringIds ? "nullemb" : (Object) 900001L, null, 1L));
            rows.add(row(stringIds ? "empty" : (Object) 900002L, List.of(), 1L));
            rows.add(row(stringIds ? "short" : (Object) 900003L, floats(rnd, DIM - 1), null));
            rows.add(row(stringIds ? "long" : (Object) 900004L, floats(rnd, DIM + 70), 2L));
            List<Float> nan = floats(rnd, DIM);
            nan.set(5, Float.NaN);
            rows.add(row(stringIds ? "nan" : (Object) 900005L, nan, 3L));
            List<Float> withNull = floats(rnd, DIM);
            withNull.set(DIM - 1, null);
            rows.add(row(stringIds ? "null-element" : (Object) 900006L, withNull, 3L));
        }
        return rows;
    }

    private static Row row(Object id, List<Float> emb, Long label) {
        return RowFactory.create(id, emb, label);
    }

    private static List<Float> floats(java.util.Random rnd, int n) {
        List<Float> l = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            l.add((float) rnd.nextGaussian());
        }
        return l;
    }

    private static StructType schema(DataType id, boolean nullable, DataType element) {
        return DataTypes.createStructType(List.of(DataTypes.createStructField("item_id", id, nullable),
                DataTypes.createStructField("embedding", DataTypes.createArrayType(element, nullable), nullable),
                DataTypes.createStructField("label", DataTypes.LongType, true)));
    }

    /** @return each row of {@link ItemInput#checkedRows} as text, sorted; the reader used in {@code why} */
    private static List<String> read(String uri, boolean fast, StringBuilder why) {
        System.setProperty(ItemInput.FAST_PARQUET, Boolean.toString(fast));
        ItemInput in = ItemInput.open(spark, uri, new SidDataConfig("item_id", "embedding", "label"), DIM);
        DataType idType = in.idType();
        DataType elem = ((org.apache.spark.sql.types.ArrayType) in.raw().schema().apply("embedding").dataType())
                .elementType();
        List<String> out = new ArrayList<>(in.checkedRows(
                new SerializableHadoopConf(spark.sparkContext().hadoopConfiguration()), why).map(r -> text(r, idType,
                elem)).collect());
        out.sort(null);
        return out;
    }

    private static String text(InternalRow r, DataType idType, DataType elem) {
        return (r.isNullAt(0) ? "null" : r.get(0, idType)) + " | "
                + (r.isNullAt(1) ? "null" : Arrays.toString(r.getArray(1).toObjectArray(elem))) + " | "
                + (r.isNullAt(2) ? "null" : r.getLong(2)) + " | " + r.getUTF8String(3) + " | " + r.getUTF8String(4)
                + " | " + r.getUTF8String(5);
    }

    @Test
    void nullableListsInManyRowGroupsAndSplitsGiveSparksRows() {
        String uri = tmp.resolve("nullable").toString();
        spark.createDataFrame(rows(3000, true, false), schema(DataTypes.LongType, true, DataTypes.FloatType))
                .repartition(3).write().option("parquet.block.size", 64 * 1024).option("parquet.page.size", 8 * 1024)
                .mode(SaveMode.Overwrite).parquet(uri);
        spark.conf().set("spark.sql.files.maxPartitionBytes", "100000"); // several splits per file
        StringBuilder fastWhy = new StringBuilder();
        List<String> fast = read(uri, true, fastWhy);
        StringBuilder sparkWhy = new StringBuilder();
        List<String> slow = read(uri, false, sparkWhy);
        assertThat(fastWhy.toString()).isEqualTo("fast Parquet reader");
        assertThat(sparkWhy.toString()).startsWith("Spark's Parquet reader");
        assertThat(fast).hasSize(3007).containsExactlyElementsOf(slow);
        System.setProperty(ItemInput.FAST_PARQUET, "true");
        ItemInput in = ItemInput.open(spark, uri, new SidDataConfig("item_id", "embedding", "label"), DIM);
        in.checkedRows(new SerializableHadoopConf(spark.sparkContext().hadoopConfiguration()), new StringBuilder());
        assertThat(in.rows()).isEqualTo(3007); // from the footers the fast reader checked
        assertThat(String.join("\n", fast)).contains("null_id", "null_embedding", "length 0, expected 24",
                "length 23, expected 24", "length 94, expected 24", "NaN", "null]", "file:");
    }

    @Test
    void requiredListsDataPagesV2AndStringIdsGiveSparksRows() {
        String uri = tmp.resolve("required").toString();
        spark.createDataFrame(rows(2000, false, true), schema(DataTypes.StringType, false, DataTypes.FloatType))
                .repartition(2).write().option("parquet.writer.version", "v2").option("parquet.enable.dictionary", false)
                .option("parquet.page.size", 4 * 1024).mode(SaveMode.Overwrite).parquet(uri);
        StringBuilder fastWhy = new StringBuilder();
        List<String> fast = read(uri, true, fastWhy);
        assertThat(fastWhy.toString()).isEqualTo("fast Parquet reader");
        assertThat(fast).hasSize(2000).containsExactlyElementsOf(read(uri, false, new StringBuilder()));
    }

    @Test
    void dictionaryFloatsAndDoublesFallBackToSparksReader() {
        String dict = tmp.resolve("dict").toString();
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < 500; i++) {
            List<Float> e = new ArrayList<>();
            for (int j = 0; j < DIM; j++) {
                e.add((float) ((i + j) % 3)); // three distinct values: the writer keeps its dictionary
            }
            rows.add(row((long) i, e, 0L));
        }
        spark.createDataFrame(rows, schema(DataTypes.LongType, true, DataTypes.FloatType)).coalesce(1).write()
                .mode(SaveMode.Overwrite).parquet(dict);
        StringBuilder why = new StringBuilder();
        assertThat(read(dict, true, why)).hasSize(500);
        assertThat(why.toString()).startsWith("Spark's Parquet reader").contains("DICTIONARY");

        String doubles = tmp.resolve("doubles").toString();
        spark.createDataFrame(rows, schema(DataTypes.LongType, true, DataTypes.FloatType)).selectExpr("item_id",
                "cast(embedding as array<double>) as embedding", "label").coalesce(1).write().mode(SaveMode.Overwrite)
                .parquet(doubles);
        StringBuilder why2 = new StringBuilder();
        assertThat(read(doubles, true, why2)).hasSize(500);
        assertThat(why2.toString()).contains("not FLOAT");
    }

    @Test
    void corruptAndTruncatedFilesFailNamingTheFile() throws Exception {
        String uri = tmp.resolve("corrupt").toString();
        spark.createDataFrame(rows(2000, false, false), schema(DataTypes.LongType, true, DataTypes.FloatType))
                .coalesce(1).write().option("parquet.enable.dictionary", false).mode(SaveMode.Overwrite).parquet(uri);
        Path file;
        try (var s = Files.list(Path.of(uri))) {
            file = s.filter(p -> p.getFileName().toString().endsWith(".parquet")).findFirst().orElseThrow();
        }
        Files.deleteIfExists(file.resolveSibling("." + file.getFileName() + ".crc"));
        byte[] good = Files.readAllBytes(file);
        long pages; // where the embedding's pages start (garbage inside a page's values goes unnoticed, as in Spark)
        try (var r = org.apache.parquet.hadoop.ParquetFileReader.open(org.apache.parquet.hadoop.util.HadoopInputFile
                .fromPath(new org.apache.hadoop.fs.Path(file.toString()), new org.apache.hadoop.conf.Configuration()))) {
            pages = r.getRowGroups().get(0).getColumns().get(1).getStartingPos();
        }
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) { // a garbled page header
            byte[] junk = new byte[64];
            Arrays.fill(junk, (byte) 0xff);
            f.seek(pages);
            f.write(junk);
        }
        assertThatThrownBy(() -> read(uri, true, new StringBuilder())).hasStackTraceContaining(
                file.getFileName().toString());

        Files.write(file, Arrays.copyOf(good, good.length / 2)); // truncated: no footer
        assertThatThrownBy(() -> read(uri, true, new StringBuilder())).hasStackTraceContaining(
                file.getFileName().toString());
    }
}
