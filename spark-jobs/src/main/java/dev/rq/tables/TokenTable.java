package dev.rq.tables;

import static org.apache.spark.sql.functions.col;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.hadoop.conf.Configuration;
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
 * without one is incomplete), checks its format version and the Parquet schema against it.
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
        Dataset<Row> df = spark.read()
                .option("basePath", root.toString())
                .parquet(root.toString());
        TokenTableSchema.check(df.schema(), m.codeType(), m.hasLatents());
        return new TokenTable(root.toString(), m, df);
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
