package dev.rq.data.items;

import dev.rq.model.config.ConfigException;
import dev.rq.model.config.SidDataConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * An item table read for semantic IDs: Parquet (any Hadoop URI, a file or a folder) with an id
 * column (integer or string), an embedding column ({@code array<float>} or {@code array<double>};
 * a pyarrow fixed-size list arrives as an array) and optionally a label column (integer or string).
 *
 * <p>{@link #open} checks the schema before any work and fails naming the column. Every row is then
 * either valid or rejected with one reason, computed by Spark SQL expressions (so no row is
 * dropped silently and {@code read == valid + rejected}):
 *
 * <table>
 *   <caption>reject reasons, in the order they are checked</caption>
 *   <tr><td>{@value #NULL_ID}</td><td>the id is null</td></tr>
 *   <tr><td>{@value #NULL_EMBEDDING}</td><td>the embedding is null</td></tr>
 *   <tr><td>{@value #WRONG_LENGTH}</td><td>the embedding's length differs from {@code model.input_dim}</td></tr>
 *   <tr><td>{@value #NULL_ELEMENT}</td><td>an element of the embedding is null</td></tr>
 *   <tr><td>{@value #NON_FINITE}</td><td>an element is NaN, ±Inf, or beyond the float32 range</td></tr>
 * </table>
 */
public final class ItemInput {

    /** Reject reason: null id. */
    public static final String NULL_ID = "null_id";
    /** Reject reason: null embedding. */
    public static final String NULL_EMBEDDING = "null_embedding";
    /** Reject reason: wrong embedding length. */
    public static final String WRONG_LENGTH = "wrong_length";
    /** Reject reason: null element. */
    public static final String NULL_ELEMENT = "null_element";
    /** Reject reason: NaN or infinite element. */
    public static final String NON_FINITE = "non_finite";
    /** Column added by {@link #checked()}: the reject reason, null for a valid row. */
    public static final String REASON = "_reject_reason";
    /** Column added by {@link #checked()}: what was wrong, null for a valid row. */
    public static final String DETAIL = "_reject_detail";
    /** Column of rejects tables: the input file a rejected row came from. */
    public static final String SOURCE_FILE = "_source_file";

    private final String uri;
    private final Dataset<Row> raw;
    private final SidDataConfig columns;
    private final int dim;

    private ItemInput(String uri, Dataset<Row> raw, SidDataConfig columns, int dim) {
        this.uri = uri;
        this.raw = raw;
        this.columns = columns;
        this.dim = dim;
    }

    /**
     * Opens and checks an item table.
     *
     * @param dim the embedding dimension every row must have
     * @throws IllegalArgumentException when a column is missing or has an unsupported type
     */
    public static ItemInput open(SparkSession spark, String uri, SidDataConfig columns, int dim) {
        Dataset<Row> df;
        try {
            df = spark.read().parquet(uri);
        } catch (Exception e) { // AnalysisException (missing path, not Parquet) is checked in Java's eyes
            if (e instanceof org.apache.spark.sql.AnalysisException a) {
                throw new IllegalArgumentException("cannot read the item table " + uri + ": " + a.getSimpleMessage(), e);
            }
            throw e;
        }
        StructType s = df.schema();
        DataType id = field(s, columns.idColumn(), "data.id_column", uri).dataType();
        if (!isIntegral(id) && id != DataTypes.StringType) {
            throw new ConfigException("data.id_column", "column '" + columns.idColumn() + "' of " + uri + " is "
                    + id.simpleString() + "; an item id must be an integer or a string");
        }
        DataType emb = field(s, columns.embeddingColumn(), "data.embedding_column", uri).dataType();
        if (!(emb instanceof ArrayType at) || !(at.elementType() == DataTypes.FloatType
                || at.elementType() == DataTypes.DoubleType)) {
            throw new ConfigException("data.embedding_column", "column '" + columns.embeddingColumn() + "' of " + uri
                    + " is " + emb.simpleString() + "; an embedding must be array<float> or array<double>");
        }
        if (columns.hasLabel()) {
            DataType l = field(s, columns.labelColumn(), "data.label_column", uri).dataType();
            if (!isIntegral(l) && l != DataTypes.StringType) {
                throw new ConfigException("data.label_column", "column '" + columns.labelColumn() + "' of " + uri
                        + " is " + l.simpleString() + "; a label must be an integer or a string");
            }
        }
        return new ItemInput(uri, df, columns, dim);
    }

    private static StructField field(StructType s, String name, String key, String uri) {
        for (StructField f : s.fields()) {
            if (f.name().equals(name)) {
                return f;
            }
        }
        throw new ConfigException(key, "the item table " + uri + " has no column '" + name + "' (columns: "
                + Arrays.stream(s.fieldNames()).collect(Collectors.joining(", ")) + ")");
    }

    static boolean isIntegral(DataType t) {
        return t == DataTypes.LongType || t == DataTypes.IntegerType || t == DataTypes.ShortType
                || t == DataTypes.ByteType;
    }

    /** @return the table URI */
    public String uri() {
        return uri;
    }

    /** @return the columns */
    public SidDataConfig columns() {
        return columns;
    }

    /** @return the embedding dimension rows must have */
    public int dim() {
        return dim;
    }

    /** @return the table as read */
    public Dataset<Row> raw() {
        return raw;
    }

    /** @return the id column's type (integer or string) */
    public DataType idType() {
        return raw.schema().apply(columns.idColumn()).dataType();
    }

    /** @return whether the embedding column is {@code array<double>} (else {@code array<float>}) */
    public boolean doubleEmbeddings() {
        return ((ArrayType) raw.schema().apply(columns.embeddingColumn()).dataType()).elementType()
                == DataTypes.DoubleType;
    }

    /** @return the label column's type, or null without a label column */
    public DataType labelType() {
        return columns.hasLabel() ? raw.schema().apply(columns.labelColumn()).dataType() : null;
    }

    /** The detail of a {@link #NULL_ELEMENT} reject. */
    public static final String NULL_ELEMENT_DETAIL = "an element of the embedding is null";
    /** The detail of a {@link #NON_FINITE} reject. */
    public static final String NON_FINITE_DETAIL = "an element is NaN, infinite or beyond the float32 range";

    /** @return every row with {@link #REASON} and {@link #DETAIL} (both null for a valid row) */
    public Dataset<Row> checked() {
        return checked(true);
    }

    /**
     * @param elements whether to check the embedding's elements here ({@link #NULL_ELEMENT}, {@link
     *     #NON_FINITE}); without, a row of the right length passes and its reader must check the
     *     elements as it copies them ({@link InternalRows#copyChecked}): Spark evaluates the SQL
     *     element checks ({@code exists(e, v -> …)}) interpreted, element by element, which made them
     *     the most expensive part of reading an embedding
     * @return every row with {@link #REASON} and {@link #DETAIL} (both null for a valid row)
     */
    public Dataset<Row> checked(boolean elements) {
        Column id = raw.col(quote(columns.idColumn()));
        Column emb = raw.col(quote(columns.embeddingColumn()));
        String e = quote(columns.embeddingColumn());
        Column nullElement = functions.expr("exists(" + e + ", v -> v IS NULL)");
        // NaN compares greater than every number in Spark SQL, so this also catches NaN
        Column nonFinite = functions.expr("exists(" + e + ", v -> NOT (abs(v) <= 3.4028234663852886E38))");
        Column len = functions.size(emb);
        Column reason = functions.when(id.isNull(), NULL_ID)
                .when(emb.isNull(), NULL_EMBEDDING)
                .when(len.notEqual(dim), WRONG_LENGTH);
        Column detail = functions.when(id.isNull(), "the id column '" + columns.idColumn() + "' is null")
                .when(emb.isNull(), "the embedding column '" + columns.embeddingColumn() + "' is null")
                .when(len.notEqual(dim), functions.concat(functions.lit("length "), len.cast("string"),
                        functions.lit(", expected " + dim)));
        if (elements) {
            reason = reason.when(nullElement, NULL_ELEMENT).when(nonFinite, NON_FINITE);
            detail = detail.when(nullElement, NULL_ELEMENT_DETAIL).when(nonFinite, NON_FINITE_DETAIL);
        }
        return raw.withColumn(REASON, reason).withColumn(DETAIL, detail);
    }

    /**
     * The rows of {@link #checked(boolean) checked(false)} as Spark's internal rows {@code (id,
     * embedding, [label], reason, detail, file)}: read by {@link ParquetItems} (the embedding's pages
     * decoded a level run at a time, one bulk copy per row) when every file has a layout it reads,
     * else by Spark's Parquet reader with the same columns ({@code input_file_name()} as file).
     * Switched off (Spark's reader always) by {@code -Drq.items.fast_parquet=false}.
     *
     * @param why receives which reader was used and, for Spark's, why
     */
    public org.apache.spark.api.java.JavaRDD<org.apache.spark.sql.catalyst.InternalRow> checkedRows(
            dev.rq.io.SerializableHadoopConf conf, StringBuilder why) {
        String[] reason = {null};
        if (dev.rq.model.engine.Switches.on(FAST_PARQUET)) {
            List<List<ParquetItems.Split>> plan = ParquetItems.sparkPlan(raw, reason);
            if (plan != null) {
                ParquetItems reader = new ParquetItems(columns.idColumn(), columns.embeddingColumn(),
                        columns.labelColumn(), idType(), labelType(), dim);
                org.apache.spark.api.java.JavaSparkContext jsc =
                        org.apache.spark.api.java.JavaSparkContext.fromSparkContext(raw.sparkSession().sparkContext());
                ParquetItems.Footers footers = reader.footers(jsc, plan, conf);
                footerRows = footers.rows();
                reason[0] = footers.unsupported();
                if (reason[0] == null) {
                    why.append("fast Parquet reader");
                    return reader.rows(jsc, plan, conf);
                }
            }
        } else {
            reason[0] = "-D" + FAST_PARQUET + "=false";
        }
        why.append("Spark's Parquet reader (").append(reason[0]).append(')');
        List<Column> sel = new ArrayList<>(List.of(functions.col(quote(columns.idColumn())),
                functions.col(quote(columns.embeddingColumn()))));
        if (columns.hasLabel()) {
            sel.add(functions.col(quote(columns.labelColumn())));
        }
        sel.addAll(List.of(functions.col(REASON), functions.col(DETAIL), functions.input_file_name()));
        return checked(false).select(sel.toArray(new Column[0])).queryExecution().toRdd().toJavaRDD();
    }

    /** Rows of the table by its files' footers, once {@link #checkedRows} has read them; else -1. */
    private long footerRows = -1;

    /** @return the table's rows (from the Parquet footers: read by {@link #checkedRows}, else a Spark count) */
    public long rows() {
        return footerRows >= 0 ? footerRows : raw.count();
    }

    /** The switch of {@link #checkedRows}. */
    public static final String FAST_PARQUET = "rq.items.fast_parquet";

    /**
     * Fails with the first few ids that occur more than once among {@code valid} rows.
     *
     * @param what how the message names the table (e.g. "the input")
     */
    public void requireUniqueIds(Dataset<Row> valid, String what) {
        String idc = quote(columns.idColumn());
        int parts = Math.max(1, valid.sparkSession().sparkContext().defaultParallelism());
        Dataset<Row> ids = valid.select(valid.col(idc)).repartition(parts, valid.col(idc)).sortWithinPartitions(idc);
        List<Duplicate> dups = new ArrayList<>(ids.queryExecution().toRdd().toJavaRDD()
                .mapPartitions(new Duplicates(ids.schema().fields()[0].dataType(), MAX_NAMED)).collect());
        if (!dups.isEmpty()) {
            dups.sort(null);
            List<String> named = new ArrayList<>();
            for (Duplicate d : dups.subList(0, Math.min(MAX_NAMED, dups.size()))) {
                named.add(String.format(Locale.ROOT, "%s (%d rows)", d.id(), d.rows()));
            }
            throw new IllegalArgumentException("duplicate item id in " + what + " " + uri + ": "
                    + String.join(", ", named) + (dups.size() >= MAX_NAMED ? ", ..." : "")
                    + "; every item id must occur once");
        }
    }

    /** Duplicate ids named by {@link #requireUniqueIds} (the smallest ones). */
    private static final int MAX_NAMED = 5;

    /**
     * An id found more than once, ordered as Spark orders the id column (numbers by value, strings
     * by their UTF-8 bytes).
     *
     * @param number the id when integral
     * @param text the id's UTF-8 bytes when a string, else null
     * @param rows how often it occurs
     */
    record Duplicate(long number, byte[] text, long rows) implements java.io.Serializable, Comparable<Duplicate> {
        Object id() {
            return text == null ? (Object) number : new String(text, java.nio.charset.StandardCharsets.UTF_8);
        }

        @Override
        public int compareTo(Duplicate o) {
            return text == null ? Long.compare(number, o.number) : Arrays.compareUnsigned(text, o.text);
        }
    }

    /**
     * The first {@code max} runs of equal ids in a partition sorted by id (so its smallest
     * duplicates): one shuffle and a sort of the ids instead of a hash aggregation of all of them.
     */
    private static final class Duplicates implements org.apache.spark.api.java.function.FlatMapFunction<
            java.util.Iterator<org.apache.spark.sql.catalyst.InternalRow>, Duplicate> {
        private static final long serialVersionUID = 1L;
        private final DataType type;
        private final boolean string;
        private final int max;

        Duplicates(DataType type, int max) {
            this.type = type;
            this.string = type.equals(DataTypes.StringType);
            this.max = max;
        }

        @Override
        public java.util.Iterator<Duplicate> call(java.util.Iterator<org.apache.spark.sql.catalyst.InternalRow> rows) {
            List<Duplicate> out = new ArrayList<>();
            long number = 0;
            byte[] text = null;
            long run = 0;
            while (out.size() < max) {
                org.apache.spark.sql.catalyst.InternalRow r = rows.hasNext() ? rows.next() : null;
                boolean same = false;
                long n = 0;
                byte[] t = null;
                if (r != null) {
                    if (string) {
                        t = r.getUTF8String(0).getBytes();
                        same = run > 0 && Arrays.equals(t, text);
                    } else {
                        n = ((Number) InternalRows.value(r, 0, type)).longValue();
                        same = run > 0 && n == number;
                    }
                }
                if (same) {
                    run++;
                    continue;
                }
                if (run > 1) {
                    out.add(new Duplicate(number, text, run));
                }
                if (r == null) {
                    break;
                }
                number = n;
                text = t;
                run = 1;
            }
            return out.iterator();
        }
    }

    /** @return a column name quoted for Spark SQL (backticks) */
    public static String quote(String name) {
        return "`" + name.replace("`", "``") + "`";
    }
}
