package dev.rq.jobs.eval;

import static org.apache.spark.sql.functions.col;

import dev.rq.model.metrics.GaussianStats;
import dev.rq.model.metrics.InceptionScore;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.api.java.function.MapGroupsFunction;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import scala.Tuple2;

/**
 * Statistics over the rows of an {@link EvalTable}, computed so that they depend only on the rows
 * and their {@code index} order, never on partitioning or the number of workers:
 *
 * <ul>
 *   <li>feature mean and covariance: rows are grouped into blocks of {@link #BLOCK} consecutive
 *       indices; each block is summarised on an executor (rows sorted by index, {@link
 *       GaussianStats.Block}, float64) and the driver merges the blocks in index order, streaming
 *       them one at a time (memory: two d×d matrices);
 *   <li>Inception Score: one group per part {@code [j·N/S, (j+1)·N/S)}, sums in index order;
 *   <li>per-image scalars (PSNR, SSIM, LPIPS): streamed to the driver in index order and summed
 *       there.
 * </ul>
 */
public final class FeatureStats {

    /** Rows per statistics block (part of the result's definition: other sizes change the last bits). */
    public static final int BLOCK = 1024;

    private FeatureStats() {}

    /**
     * @param table an eval table
     * @param column a float32 feature column ({@link EvalTable#FEATURES} or {@link EvalTable#RECON_FEATURES})
     * @param count rows of the table (indices 0..count−1)
     * @return the mean and covariance of the non-null values
     */
    public static GaussianStats gaussian(Dataset<Row> table, String column, long count) {
        Dataset<Row> rows = table.select(col(EvalTable.INDEX), col(column)).filter(col(column).isNotNull());
        Dataset<Tuple2<Long, byte[]>> blocks = rows
                .groupByKey((MapFunction<Row, Long>) r -> r.getLong(0) / BLOCK, Encoders.LONG())
                .mapGroups((MapGroupsFunction<Long, Row, Tuple2<Long, byte[]>>) (block, it) ->
                        new Tuple2<>(block, encode(summarise(it))), Encoders.tuple(Encoders.LONG(), Encoders.BINARY()));
        // ordered partitions of at most 4 blocks (~70 MB at 2048-d): the driver holds one at a time
        int parts = (int) Math.max(1, ((count + BLOCK - 1) / BLOCK + 3) / 4);
        GaussianStats.Block merged = null;
        Iterator<Tuple2<Long, byte[]>> it = blocks.repartitionByRange(parts, col("_1")).sortWithinPartitions(col("_1"))
                .toLocalIterator();
        while (it.hasNext()) {
            GaussianStats.Block b = decode(it.next()._2());
            merged = merged == null ? b : merged.merge(b);
        }
        if (merged == null || merged.count() < 2) {
            throw new IllegalStateException("feature statistics need at least 2 images with " + column + ", got "
                    + (merged == null ? 0 : merged.count()));
        }
        return merged.toStats();
    }

    /** Sorts a block's rows by index and summarises their features. */
    private static GaussianStats.Block summarise(Iterator<Row> it) {
        List<Row> rows = new ArrayList<>();
        it.forEachRemaining(rows::add);
        rows.sort((a, b) -> Long.compare(a.getLong(0), b.getLong(0)));
        float[][] f = new float[rows.size()][];
        for (int i = 0; i < f.length; i++) {
            f[i] = EvalTable.floats((byte[]) rows.get(i).get(1));
        }
        return GaussianStats.Block.of(f);
    }

    /** count, mean[d], the upper triangle of the scatter matrix, row by row; little-endian doubles. */
    static byte[] encode(GaussianStats.Block b) {
        int d = b.mean().length;
        ByteBuffer bb = ByteBuffer.allocate(8 + 4 + 8 * (d + d * (d + 1) / 2)).order(ByteOrder.LITTLE_ENDIAN);
        bb.putLong(b.count()).putInt(d);
        for (double v : b.mean()) {
            bb.putDouble(v);
        }
        for (int i = 0; i < d; i++) {
            for (int j = i; j < d; j++) {
                bb.putDouble(b.scatter()[i][j]);
            }
        }
        return bb.array();
    }

    static GaussianStats.Block decode(byte[] bytes) {
        ByteBuffer bb = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long count = bb.getLong();
        int d = bb.getInt();
        double[] mean = new double[d];
        for (int i = 0; i < d; i++) {
            mean[i] = bb.getDouble();
        }
        double[][] s = new double[d][d];
        for (int i = 0; i < d; i++) {
            for (int j = i; j < d; j++) {
                s[i][j] = bb.getDouble();
                s[j][i] = s[i][j];
            }
        }
        return new GaussianStats.Block(count, mean, s);
    }

    /**
     * The Inception Score of the {@link EvalTable#LOGITS} column. Each part's rows are streamed in
     * index order through Spark's sort (which spills), so a task holds one part's sums (1,008
     * doubles), never its logits: bounded at any image count.
     *
     * @param count N, the number of rows (indices 0..N−1)
     * @param splits parts (at most N)
     */
    public static InceptionScore.Result inceptionScore(Dataset<Row> table, long count, int splits) {
        int s = (int) Math.min(splits, count);
        UserDefinedFunction partOf = functions.udf((UDF1<Long, Integer>) i -> InceptionScore.partOf(i, count, s),
                DataTypes.IntegerType);
        List<Tuple2<Integer, byte[]>> parts = table.select(col(EvalTable.INDEX), col(EvalTable.LOGITS))
                .filter(col(EvalTable.LOGITS).isNotNull())
                .withColumn(PART, partOf.apply(col(EvalTable.INDEX)))
                .repartition(s, col(PART))
                .sortWithinPartitions(col(PART), col(EvalTable.INDEX)) // the summation order: by index
                .mapPartitions((MapPartitionsFunction<Row, Tuple2<Integer, byte[]>>) FeatureStats::parts,
                        Encoders.tuple(Encoders.INT(), Encoders.BINARY()))
                .collectAsList();
        InceptionScore.Part[] ordered = new InceptionScore.Part[s];
        for (Tuple2<Integer, byte[]> t : parts) {
            ordered[t._1()] = decodePart(t._2());
        }
        for (int j = 0; j < s; j++) {
            if (ordered[j] == null) {
                throw new IllegalStateException("Inception Score part " + j + " of " + s + " has no logits");
            }
        }
        return InceptionScore.of(Arrays.asList(ordered));
    }

    private static final String PART = "_is_part";

    /** @param rows (index, logits, part) sorted by part, then index; @return each part's sums */
    private static Iterator<Tuple2<Integer, byte[]>> parts(Iterator<Row> rows) {
        List<Tuple2<Integer, byte[]>> out = new ArrayList<>();
        int current = -1;
        InceptionScore.Part p = null;
        while (rows.hasNext()) {
            Row r = rows.next();
            int part = r.getInt(2);
            if (part != current && p != null) {
                out.add(new Tuple2<>(current, encode(p)));
                p = null;
            }
            current = part;
            float[] logits = EvalTable.floats((byte[]) r.get(1));
            if (p == null) {
                p = new InceptionScore.Part(logits.length);
            }
            p.add(logits);
        }
        if (p != null) {
            out.add(new Tuple2<>(current, encode(p)));
        }
        return out.iterator();
    }

    private static byte[] encode(InceptionScore.Part p) {
        ByteBuffer bb = ByteBuffer.allocate(8 + 8 + 8 * p.probSum().length).order(ByteOrder.LITTLE_ENDIAN);
        bb.putLong(p.count()).putDouble(p.negEntropySum());
        for (double v : p.probSum()) {
            bb.putDouble(v);
        }
        return bb.array();
    }

    private static InceptionScore.Part decodePart(byte[] bytes) {
        ByteBuffer bb = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long n = bb.getLong();
        double h = bb.getDouble();
        double[] p = new double[(bytes.length - 16) / 8];
        for (int i = 0; i < p.length; i++) {
            p[i] = bb.getDouble();
        }
        return new InceptionScore.Part(n, p, h);
    }

    /**
     * Summary of a per-image scalar column, summed in index order.
     *
     * @param n images with a value
     * @param mean mean
     * @param median median
     * @param min minimum
     * @param max maximum
     */
    public record Scalar(long n, double mean, double median, double min, double max) {}

    /**
     * @param count rows of the table
     * @return the summary of the non-null values of {@code column}, or null when there are none
     */
    public static Scalar scalar(Dataset<Row> table, String column, long count) {
        int parts = (int) Math.max(1, count / 1_000_000); // ordered partitions of about a million values
        Iterator<Row> it = table.select(col(EvalTable.INDEX), col(column)).filter(col(column).isNotNull())
                .repartitionByRange(parts, col(EvalTable.INDEX)).sortWithinPartitions(col(EvalTable.INDEX))
                .toLocalIterator();
        double[] v = new double[1024];
        int n = 0;
        double sum = 0;
        while (it.hasNext()) {
            double x = it.next().getDouble(1);
            if (n == v.length) {
                v = Arrays.copyOf(v, 2 * n);
            }
            v[n++] = x;
            sum += x;
        }
        if (n == 0) {
            return null;
        }
        double[] s = Arrays.copyOf(v, n);
        Arrays.sort(s);
        double median = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
        return new Scalar(n, sum / n, median, s[0], s[n - 1]);
    }
}
