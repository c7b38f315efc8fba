package dev.rq.tables;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.pmod;
import static org.apache.spark.sql.functions.posexplode;

import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

/**
 * How often each code of each depth occurs in (part of) a token table or any table with a codes
 * column in (h, w, d) order, and the usage perplexity
 * {@code exp(−Σ p·ln p)} per depth (K when every code is equally used, 1 when one code is used).
 *
 * @param counts {@code counts[d][k]}: occurrences of code {@code k} at depth {@code d}
 */
public record CodeUsage(long[][] counts) {

    /**
     * Counts the codes of one split and variant with a Spark aggregation ({@code posexplode} of
     * {@code codes}, depth = position mod D, group by depth and code).
     *
     * @param table the token table
     * @param split split name
     * @param variant variant id (0 = center)
     */
    public static CodeUsage of(TokenTable table, String split, int variant) {
        int depth = table.codeShape()[2];
        List<Integer> sizes = table.manifest().codebookSizes();
        int[] k = new int[depth];
        for (int d = 0; d < depth; d++) {
            k[d] = sizes != null && sizes.size() == depth ? sizes.get(d) : table.manifest().codebookSize();
        }
        return of(table.split(split).filter(col(TokenTableSchema.VARIANT).equalTo(variant)), TokenTableSchema.CODES,
                k);
    }

    /**
     * Counts the codes of a column of flattened (h, w, d) code arrays with a Spark aggregation
     * ({@code posexplode}, depth = position mod D, group by depth and code): exact integer counts,
     * whatever the partitioning.
     *
     * @param rows the rows (null code arrays are skipped)
     * @param codesColumn the array column
     * @param codebookSizes K per depth (D = its length)
     */
    public static CodeUsage of(Dataset<Row> rows, String codesColumn, int[] codebookSizes) {
        int depth = codebookSizes.length;
        long[][] counts = new long[depth][];
        for (int d = 0; d < depth; d++) {
            counts[d] = new long[codebookSizes[d]];
        }
        Dataset<Row> codes = rows.filter(col(codesColumn).isNotNull())
                .select(posexplode(col(codesColumn)).as(new String[] {"pos", "code"}))
                .select(pmod(col("pos"), lit(depth)).alias("depth"), col("code").cast("int").alias("code"));
        for (Row r : codes.groupBy("depth", "code").count().collectAsList()) {
            int d = ((Number) r.get(0)).intValue();
            int k = ((Number) r.get(1)).intValue();
            if (k < 0 || k >= counts[d].length) {
                throw new IllegalStateException("code " + k + " at depth " + d + " is outside the codebook of "
                        + counts[d].length + " entries");
            }
            counts[d][k] += r.getLong(2);
        }
        return new CodeUsage(counts);
    }

    /** @return D */
    public int depth() {
        return counts.length;
    }

    /** @return codes counted at depth {@code d} */
    public long total(int d) {
        return Arrays.stream(counts[d]).sum();
    }

    /** @return distinct codes used at depth {@code d} */
    public int used(int d) {
        return (int) Arrays.stream(counts[d]).filter(c -> c > 0).count();
    }

    /** @return usage perplexity at depth {@code d} ({@code 0} when nothing was counted) */
    public double perplexity(int d) {
        return perplexity(counts[d]);
    }

    /** @return {@code exp(−Σ p·ln p)} of a histogram (0 when empty) */
    public static double perplexity(long[] hist) {
        long total = Arrays.stream(hist).sum();
        if (total == 0) {
            return 0;
        }
        double h = 0;
        for (long c : hist) {
            if (c > 0) {
                double p = (double) c / total;
                h -= p * Math.log(p);
            }
        }
        return Math.exp(h);
    }

    /** @return the share of the most frequent code at depth {@code d} */
    public double topShare(int d) {
        long total = total(d);
        return total == 0 ? 0 : (double) Arrays.stream(counts[d]).max().orElse(0) / total;
    }

    /** @return the counts of depth {@code d} in descending order (rank-frequency curve) */
    public double[] sortedDescending(int d) {
        long[] s = counts[d].clone();
        Arrays.sort(s);
        double[] out = new double[s.length];
        for (int i = 0; i < s.length; i++) {
            out[i] = s[s.length - 1 - i];
        }
        return out;
    }
}
