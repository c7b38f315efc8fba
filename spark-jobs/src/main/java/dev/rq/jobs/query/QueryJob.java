package dev.rq.jobs.query;

import dev.rq.data.dataset.DatasetLayout;
import dev.rq.jobs.JobGroup;
import dev.rq.tables.TokenTable;
import dev.rq.tables.TokenTableSchema;
import java.io.IOException;
import java.io.Writer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.MapType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * {@code rq query}: Spark SQL over the project's tables, results as CSV or JSON lines. Each table
 * is registered as a temporary view under the name the user gives it:
 *
 * <ul>
 *   <li>a token table (has {@code _tokens_manifest.json}): {@link TokenTable#read} (manifest and
 *       schema checked), columns of {@link TokenTableSchema} including {@code split};
 *   <li>a dataset split (has {@code _dataset_info.json}): its shards ({@code image} struct of
 *       {@code bytes} and {@code path}, {@code label});
 *   <li>a {@code .json} / {@code .jsonl} file, or a folder of such files only (e.g. a run's
 *       {@code metrics} folder of {@code steps-*.jsonl} parts): JSON lines;
 *   <li>anything else: Parquet.
 * </ul>
 *
 * Results stream to the driver one partition at a time ({@code toLocalIterator}): this is for
 * inspection and notebooks; write large results with Spark itself. In CSV, arrays, structs and maps
 * are written as JSON text and binary values as base64; JSON lines are Spark's {@code toJSON}.
 */
public final class QueryJob {

    /** Output formats. */
    public enum Format {
        CSV,
        JSON
    }

    /**
     * A table to register.
     *
     * @param name view name (an SQL identifier)
     * @param uri table URI (any Hadoop file system)
     */
    public record Table(String name, String uri) {
        public Table {
            Objects.requireNonNull(uri, "uri");
            if (name == null || !name.matches("[A-Za-z_][A-Za-z0-9_]*")) {
                throw new IllegalArgumentException("--table: '" + name + "' is not a table name (letters, digits and"
                        + " _, not starting with a digit): write --table NAME=URI");
            }
        }

        /** Parses {@code NAME=URI}. */
        public static Table parse(String spec) {
            int eq = spec.indexOf('=');
            if (eq <= 0 || eq == spec.length() - 1) {
                throw new IllegalArgumentException("--table: expected NAME=URI, got '" + spec + "'");
            }
            return new Table(spec.substring(0, eq).trim(), spec.substring(eq + 1).trim());
        }
    }

    private QueryJob() {}

    /**
     * Registers {@code tables} as temporary views of {@code spark}.
     *
     * @return what each table was read as ({@code token table}, {@code dataset split}, {@code json},
     *     {@code parquet}), in order
     */
    public static List<String> register(SparkSession spark, List<Table> tables) throws IOException {
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        List<String> kinds = new ArrayList<>();
        for (Table t : tables) {
            Path p = new Path(t.uri());
            FileSystem fs = p.getFileSystem(conf);
            if (!fs.exists(p)) {
                throw new IllegalArgumentException("--table " + t.name() + ": " + t.uri() + " does not exist");
            }
            Dataset<Row> df;
            String kind;
            if (fs.exists(new Path(p, TokenTableSchema.MANIFEST_FILE))) {
                df = TokenTable.read(spark, t.uri()).rows();
                kind = "token table";
            } else if (fs.exists(new Path(p, DatasetLayout.INFO_FILE))) {
                df = spark.read().parquet(t.uri());
                kind = "dataset split";
            } else if (isJson(t.uri()) || jsonFolder(fs, p)) {
                df = spark.read().json(t.uri());
                kind = "json";
            } else {
                df = spark.read().parquet(t.uri());
                kind = "parquet";
            }
            df.createOrReplaceTempView(t.name());
            kinds.add(kind);
        }
        return kinds;
    }

    private static boolean isJson(String name) {
        return name.endsWith(".json") || name.endsWith(".jsonl");
    }

    /** @return whether {@code p} is a folder whose visible files are all JSON lines (and there is one) */
    private static boolean jsonFolder(FileSystem fs, Path p) throws IOException {
        if (!fs.getFileStatus(p).isDirectory()) {
            return false;
        }
        boolean any = false;
        for (org.apache.hadoop.fs.FileStatus s : fs.listStatus(p)) {
            String name = s.getPath().getName();
            if (name.startsWith("_") || name.startsWith(".")) {
                continue; // hidden, as Spark's readers skip them
            }
            if (!s.isFile() || !isJson(name)) {
                return false;
            }
            any = true;
        }
        return any;
    }

    /**
     * Runs one SQL statement and writes its rows.
     *
     * @param spark a session with the tables registered
     * @param sql the statement
     * @param format CSV (with a header line) or JSON lines
     * @param limit at most this many rows (0 = all)
     * @param out where the rows go (not closed)
     * @return rows written
     */
    public static long run(SparkSession spark, String sql, Format format, long limit, Writer out) throws IOException {
        return JobGroup.run(spark, "rq-query", "rq query " + sql, false, () -> write(spark, sql, format, limit, out));
    }

    private static long write(SparkSession spark, String sql, Format format, long limit, Writer out)
            throws IOException {
        Dataset<Row> df = spark.sql(sql);
        if (limit > 0) {
            df = df.limit((int) Math.min(limit, Integer.MAX_VALUE));
        }
        long n = 0;
        if (format == Format.JSON) {
            for (Iterator<String> it = df.toJSON().toLocalIterator(); it.hasNext(); n++) {
                out.write(it.next());
                out.write('\n');
            }
            return n;
        }
        Dataset<Row> flat = flatten(df);
        List<String> header = new ArrayList<>();
        for (StructField f : flat.schema().fields()) {
            header.add(csv(f.name()));
        }
        out.write(String.join(",", header));
        out.write('\n');
        for (Iterator<Row> it = flat.toLocalIterator(); it.hasNext(); n++) {
            Row r = it.next();
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < r.length(); i++) {
                if (i > 0) {
                    line.append(',');
                }
                line.append(r.isNullAt(i) ? "" : csv(value(r.get(i))));
            }
            out.write(line.append('\n').toString());
        }
        return n;
    }

    /** Complex columns as JSON text, binary as base64: every CSV cell is one scalar. */
    private static Dataset<Row> flatten(Dataset<Row> df) {
        List<Column> cols = new ArrayList<>();
        for (StructField f : df.schema().fields()) {
            DataType t = f.dataType();
            Column c = functions.col("`" + f.name().replace("`", "``") + "`");
            if (t instanceof ArrayType || t instanceof StructType || t instanceof MapType) {
                c = functions.to_json(c);
            } else if (t instanceof BinaryType) {
                c = functions.base64(c);
            }
            cols.add(c.alias(f.name()));
        }
        return df.select(cols.toArray(Column[]::new));
    }

    private static String value(Object v) {
        if (v instanceof Double d) {
            return d.isNaN() || d.isInfinite() ? d.toString() : Double.toString(d);
        }
        if (v instanceof Float f) {
            return Float.toString(f);
        }
        return String.valueOf(v);
    }

    /** RFC 4180 quoting: a value with a comma, quote or line break is quoted, quotes doubled. */
    static String csv(String s) {
        if (s.indexOf(',') < 0 && s.indexOf('"') < 0 && s.indexOf('\n') < 0 && s.indexOf('\r') < 0) {
            return s;
        }
        return '"' + s.replace("\"", "\"\"") + '"';
    }

    /** @return {@code s} upper-cased as a {@link Format} name */
    public static Format format(String s) {
        try {
            return Format.valueOf(s.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--format: expected csv or json, got '" + s + "'");
        }
    }
}
