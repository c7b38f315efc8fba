package dev.rq.tables;

import static org.apache.spark.sql.functions.col;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;

/**
 * Reading token tables written by {@code rq tokenize}. {@link #read} requires the manifest (a table
 * without one is incomplete), checks its format version and the Parquet schema against it, and
 * reads exactly the data files the manifest lists ({@link #dataFiles}), never leftovers of failed
 * or older writes that may share the folder.
 *
 * <pre>{@code
 * TokenTable t = TokenTable.read(spark, "s3a://bucket/tokens/emoji");
 * int[] shape = t.codeShape();                       // [H, W, D]
 * Dataset<TokenRow> rows = t.typed().filter("split = 'train' AND variant = 0");
 * }</pre>
 */
public final class TokenTable {

    private final String uri;
    private final TokenManifest manifest;
    private final Dataset<Row> rows;

    private TokenTable(String uri, TokenManifest manifest, Dataset<Row> rows) {
        this.uri = uri;
        this.manifest = manifest;
        this.rows = rows;
    }

    /**
     * Opens a token table.
     *
     * @param spark session
     * @param uri table root (any Hadoop file system)
     * @throws java.io.FileNotFoundException when the manifest is missing
     * @throws IOException when the manifest is not a supported token table manifest
     * @throws IllegalStateException when the Parquet schema or splits do not match the manifest
     */
    public static TokenTable read(SparkSession spark, String uri) throws IOException {
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        Path root = new Path(uri);
        root = root.getFileSystem(conf).makeQualified(root);
        TokenManifest m = TokenManifest.read(root.toString(), conf);
        Dataset<Row> df = m.files() == null
                ? spark.read().option("basePath", root.toString()).parquet(root.toString())
                : rows(spark, root.toString(), dataFiles(root.toString(), m, null, conf));
        TokenTableSchema.check(df.schema(), m.codeType(), m.hasLatents());
        return new TokenTable(root.toString(), m, df);
    }

    /**
     * The data files of a table, checked against the manifest: each listed file must exist with its
     * listed size (one directory listing per split, no request per file). A table written before
     * manifests listed files yields every {@code *.parquet} file of its split folders, by name.
     *
     * @param split only this split's files, or null for all
     * @return the files, in manifest order (task order)
     * @throws IllegalStateException naming a missing or resized file
     */
    public static List<Path> dataFiles(String root, TokenManifest m, String split, Configuration conf)
            throws IOException {
        Path r = new Path(root);
        FileSystem fs = r.getFileSystem(conf);
        List<String> splits = split == null ? new ArrayList<>(m.splits().keySet()) : List.of(split);
        List<Path> out = new ArrayList<>();
        for (String s : splits) {
            Path dir = new Path(r, TokenTableSchema.SPLIT + "=" + s);
            Map<String, Long> sizes = new TreeMap<>();
            if (fs.exists(dir)) {
                for (FileStatus st : fs.listStatus(dir)) {
                    if (st.isFile()) {
                        sizes.put(TokenTableSchema.SPLIT + "=" + s + "/" + st.getPath().getName(), st.getLen());
                    }
                }
            }
            if (m.files() == null) {
                sizes.keySet().stream().filter(n -> n.endsWith(".parquet") && !n.contains("/.") && !n.contains("/_"))
                        .forEach(n -> out.add(new Path(r, n)));
                continue;
            }
            for (TokenManifest.DataFile f : m.files()) {
                if (!f.split().equals(s)) {
                    continue;
                }
                Long size = sizes.get(f.path());
                if (size == null) {
                    throw new IllegalStateException("token table " + root + " is incomplete: " + f.path()
                            + ", listed in its manifest, is missing");
                }
                if (size != f.bytes()) {
                    throw new IllegalStateException("token table " + root + ": " + f.path() + " has " + size
                            + " bytes, its manifest says " + f.bytes() + " (altered or truncated)");
                }
                out.add(new Path(r, f.path()));
            }
        }
        return out;
    }

    /** @return the rows of exactly {@code files} under {@code root}, with the {@code split} partition column */
    public static Dataset<Row> rows(SparkSession spark, String root, List<Path> files) {
        if (files.isEmpty()) {
            throw new IllegalStateException("token table " + root + " has no data files");
        }
        return spark.read().option("basePath", root).parquet(files.stream().map(Path::toString).toArray(String[]::new));
    }

    /** @return the table root */
    public String uri() {
        return uri;
    }

    /** @return the provenance manifest */
    public TokenManifest manifest() {
        return manifest;
    }

    /** @return [H, W, D] */
    public int[] codeShape() {
        return manifest.codeShape().stream().mapToInt(Integer::intValue).toArray();
    }

    /** @return splits listed in the manifest */
    public List<String> splits() {
        return new ArrayList<>(manifest.splits().keySet());
    }

    /** @return every row, as stored (codes int16 or int32), including the {@code split} column */
    public Dataset<Row> rows() {
        return rows;
    }

    /** @return the rows of one split */
    public Dataset<Row> split(String split) {
        if (!manifest.splits().containsKey(split)) {
            throw new IllegalArgumentException("token table " + uri + " has no split '" + split + "' (has "
                    + manifest.splits().keySet() + ")");
        }
        return rows.filter(col(TokenTableSchema.SPLIT).equalTo(split));
    }

    /** @return typed rows ({@code codes} widened to int) */
    public Dataset<TokenRow> typed() {
        List<Column> cols = new ArrayList<>(List.of(
                col(TokenTableSchema.ID).alias("id"),
                col(TokenTableSchema.LABEL).alias("label"),
                col(TokenTableSchema.VARIANT).cast(DataTypes.IntegerType).alias("variant"),
                col(TokenTableSchema.CODES).cast(DataTypes.createArrayType(DataTypes.IntegerType))
                        .alias("codes"),
                col(TokenTableSchema.SOURCE_SHARD).alias("sourceShard"),
                col(TokenTableSchema.SOURCE_ROW).alias("sourceRow"),
                col(TokenTableSchema.SPLIT).alias("split")));
        cols.add(manifest.hasLatents() ? col(TokenTableSchema.LATENTS).alias("latents")
                : functions.lit(null).cast(DataTypes.BinaryType).alias("latents"));
        return rows.select(cols.toArray(Column[]::new)).as(Encoders.bean(TokenRow.class));
    }

    /**
     * Counts rows per split and compares them with the manifest (a full scan).
     *
     * @throws IllegalStateException on a mismatch
     */
    public void verifyCounts() {
        Map<String, Long> got = new TreeMap<>();
        for (Row r : rows.groupBy(TokenTableSchema.SPLIT).count().collectAsList()) {
            got.put(r.get(0).toString(), r.getLong(1));
        }
        Map<String, Long> want = new TreeMap<>();
        manifest.splits().forEach((k, v) -> want.put(k, v.rows()));
        if (!got.equals(want)) {
            throw new IllegalStateException("token table " + uri + " holds " + got + " rows per split, its manifest says "
                    + want);
        }
    }

    /**
     * Codes of a row as int (whatever the stored width).
     *
     * @param row a row of {@link #rows()}
     */
    public static int[] codes(Row row) {
        List<Object> l = row.getList(row.fieldIndex(TokenTableSchema.CODES));
        int[] c = new int[l.size()];
        for (int i = 0; i < c.length; i++) {
            c[i] = ((Number) l.get(i)).intValue();
        }
        return c;
    }
}
