package dev.rq.jobs.sid;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.apache.spark.api.java.function.Function2;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.util.ArrayData;

/**
 * The one Spark job that runs the encode pass of {@code rq assign-sid}: one task per partition of
 * the persisted work rows (which it fills) counts the rows by reject reason (null = encoded), sums
 * the sampled reconstructions' MSE and cosine, and keeps a sample of the packed sid keys ({@link
 * AssignSidJob#sidKey}) from which the driver cuts the ID table's sid ranges ({@link #bounds}). It
 * replaces a counting aggregation, the statistics' aggregation and Spark's range-partitioning
 * sample: three passes over the work rows, five Spark jobs. Only per-task counts, sums and at most
 * {@code sample} keys per task reach the driver.
 */
final class WorkSummary implements Function2<Integer, Iterator<InternalRow>, Iterator<WorkSummary.Part>> {
    private static final long serialVersionUID = 1L;

    /**
     * What one task counted.
     *
     * @param encoded valid rows
     * @param rejected rows by reject reason
     * @param mseSum sum of the reconstructed rows' MSE (in row order)
     * @param cosineSum sum of their cosine similarity
     * @param reconstructed rows with a reconstruction
     * @param keys a uniform sample of the valid rows' packed sid keys (empty when not packed)
     */
    record Part(long encoded, TreeMap<String, Long> rejected, double mseSum, double cosineSum, long reconstructed,
            long[] keys) implements Serializable {}

    private final int reasonColumn;
    private final int[] shifts;
    private final int sample;

    /**
     * @param labels whether the work rows carry a label column
     * @param sizes K per level; keys are sampled only when they pack into a long ({@link #shifts})
     * @param sample keys kept per task
     */
    WorkSummary(boolean labels, int[] sizes, int sample) {
        this.reasonColumn = labels ? 5 : 4;
        this.shifts = shifts(sizes);
        this.sample = shifts == null ? 0 : sample;
    }

    /**
     * @return per level the left shift of its code in the packed key (level 0 highest), as {@link
     *     AssignSidJob#sidKey} packs it, or null when the codes need more than 63 bits
     */
    static int[] shifts(int[] sizes) {
        int k = Arrays.stream(sizes).max().orElse(1);
        int bits = Math.max(1, 32 - Integer.numberOfLeadingZeros(k - 1));
        if ((long) bits * sizes.length > 63) {
            return null;
        }
        int[] s = new int[sizes.length];
        for (int d = 0; d < sizes.length; d++) {
            s[d] = (sizes.length - 1 - d) * bits;
        }
        return s;
    }

    /**
     * @param maxRanges the most sid ranges the keys will be cut into (the sample is Spark's
     *     range-partitioning sample for that many: 60 keys per range over all tasks, at most 3 M)
     * @return the work rows' parts, one per partition, in partition order (one Spark job)
     */
    static List<Part> of(Dataset<Row> work, boolean labels, int[] sizes, int maxRanges) {
        org.apache.spark.api.java.JavaRDD<InternalRow> rows = work.queryExecution().toRdd().toJavaRDD();
        int sample = (int) Math.ceil(3 * Math.min(20.0 * maxRanges, 1e6) / Math.max(1, rows.getNumPartitions()));
        return rows.mapPartitionsWithIndex(new WorkSummary(labels, sizes, sample), false).collect();
    }

    @Override
    public Iterator<Part> call(Integer task, Iterator<InternalRow> rows) {
        long encoded = 0;
        TreeMap<String, Long> rejected = new TreeMap<>();
        double mse = 0;
        double cos = 0;
        long reconstructed = 0;
        long[] keys = new long[sample];
        SplittableRandom random = new SplittableRandom(task); // the same sample run to run
        while (rows.hasNext()) {
            InternalRow r = rows.next();
            if (!r.isNullAt(reasonColumn)) {
                rejected.merge(r.getUTF8String(reasonColumn).toString(), 1L, Long::sum);
                continue;
            }
            if (!r.isNullAt(2)) {
                mse += r.getFloat(2);
                cos += r.getFloat(3);
                reconstructed++;
            }
            if (sample > 0) { // reservoir sampling
                long slot = encoded < sample ? encoded : random.nextLong(encoded + 1);
                if (slot < sample) {
                    keys[(int) slot] = key(r.getArray(1));
                }
            }
            encoded++;
        }
        return List.of(new Part(encoded, rejected, mse, cos, reconstructed,
                Arrays.copyOf(keys, (int) Math.min(encoded, sample)))).iterator();
    }

    private long key(ArrayData sid) {
        long k = 0;
        for (int d = 0; d < shifts.length; d++) {
            k |= (long) sid.getInt(d) << shifts[d];
        }
        return k;
    }

    /** @return the valid rows over all parts */
    static long encoded(List<Part> parts) {
        return parts.stream().mapToLong(Part::encoded).sum();
    }

    /** @return the rejected rows by reason over all parts */
    static Map<String, Long> rejected(List<Part> parts) {
        Map<String, Long> m = new TreeMap<>();
        parts.forEach(p -> p.rejected().forEach((k, v) -> m.merge(k, v, Long::sum)));
        return m;
    }

    /** @return {mean MSE, mean cosine} of the reconstructed rows (NaN when none), summed in partition order */
    static double[] reconstruction(List<Part> parts) {
        double mse = 0;
        double cos = 0;
        long n = 0;
        for (Part p : parts) {
            mse += p.mseSum();
            cos += p.cosineSum();
            n += p.reconstructed();
        }
        return n == 0 ? new double[] {Double.NaN, Double.NaN, 0} : new double[] {mse / n, cos / n, n};
    }

    /**
     * Sid ranges of about equal rows from the parts' key samples, each sample key weighted by its
     * part's rows per sampled key (Spark's {@code RangePartitioner.determineBounds}).
     *
     * @return strictly increasing inclusive upper bounds of ranges 0 .. b-1 (range b takes the rest),
     *     b ≤ ranges - 1; fewer when the keys do not spread over that many ranges
     */
    static long[] bounds(List<Part> parts, int ranges) {
        List<long[]> weighted = new ArrayList<>(); // {key, weight as double bits}
        double total = 0;
        for (Part p : parts) {
            if (p.keys().length == 0) {
                continue;
            }
            double w = p.encoded() / (double) p.keys().length;
            for (long k : p.keys()) {
                weighted.add(new long[] {k, Double.doubleToRawLongBits(w)});
            }
            total += p.encoded();
        }
        weighted.sort((a, b) -> Long.compare(a[0], b[0]));
        double step = total / ranges;
        List<Long> bounds = new ArrayList<>();
        double cumulative = 0;
        double target = step;
        for (int i = 0; i < weighted.size() && bounds.size() < ranges - 1; i++) {
            cumulative += Double.longBitsToDouble(weighted.get(i)[1]);
            long key = weighted.get(i)[0];
            if (cumulative >= target && (bounds.isEmpty() || key > bounds.get(bounds.size() - 1))) {
                bounds.add(key);
                target += step;
            }
        }
        return bounds.stream().mapToLong(Long::longValue).toArray();
    }

    /** @return the range of {@code key}: the first bound ≥ key, or the last range */
    static int range(long[] bounds, long key) {
        int i = Arrays.binarySearch(bounds, key);
        return i >= 0 ? i : -i - 1;
    }
}
