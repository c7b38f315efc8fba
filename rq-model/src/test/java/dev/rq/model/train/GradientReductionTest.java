package dev.rq.model.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.distributed.Collective;
import dev.rq.model.distributed.ThreadedCollectives;
import dev.rq.model.engine.Engines;
import dev.rq.model.nn.Tensors;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The bucketed all-reduce of {@link GradientReduction}: with a collective that sums in the TCP ring's
 * documented order (element i of segment {@code [s*L/N, (s+1)*L/N)} of each call's array as the left fold
 * from rank s+1 round to rank s), every bucket size gives the bits of one unbucketed all-reduce of all
 * gradients and statistics, for N = 2 and N = 3, while no array passed to the collective exceeds the
 * bucket; parameters larger than a bucket, tensors read through several views, a non-contiguous
 * gradient and the copy path ({@code rq.allreduce.views=false}) included. (spark-jobs' GradientReductionRingTest does the same over
 * the real TcpRingCollective.)
 */
class GradientReductionTest {

    private static NDManager m;

    /** Parameter shapes: one larger than most buckets below, one of a single element. */
    private static final long[][] SHAPES = {{37, 11}, {5}, {200}, {3, 4, 2}, {1}, {64}};
    private static final int STATS = 3;
    private static final int G = 6;

    @BeforeAll
    static void start() {
        Engines.pytorch(1);
        m = Engines.newManager();
        JniUtils.setGradMode(false);
    }

    @AfterAll
    static void stop() {
        m.close();
    }

    /** Rank r's value at i of V: over ~6 decades, so that the summation order shows in the bits. */
    private static float value(int rank, int i) {
        SplittableRandom rnd = new SplittableRandom(1_000_003L * rank + i);
        return (float) ((rnd.nextDouble() - 0.5) * Math.scalb(1.0, rnd.nextInt(-10, 10)));
    }

    private static int total() {
        int t = STATS;
        for (long[] s : SHAPES) {
            t += (int) new Shape(s).size();
        }
        return t;
    }

    /** The ring's order over a whole array of rank inputs {@code x[rank][i]}. */
    static float[] ringSum(float[][] x) {
        int n = x.length;
        int length = x[0].length;
        float[] out = new float[length];
        for (int s = 0; s < n; s++) {
            for (int i = (int) ((long) s * length / n); i < (int) ((long) (s + 1) * length / n); i++) {
                float acc = x[(s + 1) % n][i];
                for (int j = 2; j <= n; j++) {
                    acc += x[(s + j) % n][i];
                }
                out[i] = acc;
            }
        }
        return out;
    }

    /** A collective summing in the ring's order (through allGather), recording the longest array. */
    private static final class RingOrder implements Collective {
        final Collective inner;
        final AtomicInteger longest;

        RingOrder(Collective inner, AtomicInteger longest) {
            this.inner = inner;
            this.longest = longest;
        }

        public int rank() {
            return inner.rank();
        }

        public int worldSize() {
            return inner.worldSize();
        }

        public void allReduceSum(float[] data) {
            longest.accumulateAndGet(data.length, Math::max);
            ByteBuffer b = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            b.asFloatBuffer().put(data);
            List<byte[]> all = inner.allGather(b.array());
            float[][] x = new float[all.size()][data.length];
            for (int r = 0; r < x.length; r++) {
                ByteBuffer.wrap(all.get(r)).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(x[r]);
            }
            System.arraycopy(ringSum(x), 0, data, 0, data.length);
        }

        public void allReduceSum(double[] data) {
            inner.allReduceSum(data);
        }

        public void broadcast(float[] data, int root) {
            inner.broadcast(data, root);
        }

        public List<byte[]> allGather(byte[] data) {
            return inner.allGather(data);
        }
    }

    /** @return per rank: the reduced gradients then statistics as one array (V's layout) */
    private static List<float[]> reduce(int n, long bucket, AtomicInteger longest) throws Exception {
        return ThreadedCollectives.run(n, c -> {
            try (NDManager rm = m.newSubManager()) {
                int r = c.rank();
                Map<String, NDArray> local = new LinkedHashMap<>();
                int i = 0;
                for (int k = 0; k < SHAPES.length; k++) {
                    Shape s = new Shape(SHAPES[k]);
                    float[] v = new float[(int) s.size()];
                    if (k == 0) { // a non-contiguous gradient (a transposed view): copied, in logical order
                        long rows = s.get(0);
                        long cols = s.get(1);
                        for (int j = 0; j < v.length; j++) { // base[c][r] = V[r * cols + c]
                            v[j] = value(r, i + (int) ((j % rows) * cols + j / rows));
                        }
                        i += v.length;
                        local.put("p" + k, Tensors.of(rm, v, new Shape(cols, rows)).transpose());
                        continue;
                    }
                    for (int j = 0; j < v.length; j++) {
                        v[j] = value(r, i++);
                    }
                    local.put("p" + k, Tensors.of(rm, v, s));
                }
                float[] stats = new float[STATS];
                for (int j = 0; j < STATS; j++) {
                    stats[j] = value(r, i++);
                }
                Map<String, NDArray> out = GradientReduction.reduce(local, stats, G, new RingOrder(c, longest), null,
                        new GradientReduction.Buffer(bucket));
                float[] all = new float[total()];
                int at = 0;
                for (int k = 0; k < SHAPES.length; k++) {
                    NDArray g = out.get("p" + k);
                    assertThat(g.getShape()).isEqualTo(new Shape(SHAPES[k]));
                    float[] v = g.toFloatArray();
                    System.arraycopy(v, 0, all, at, v.length);
                    at += v.length;
                }
                System.arraycopy(stats, 0, all, at, STATS);
                return all;
            }
        });
    }

    /** The unbucketed reduction: the ring's order over all of V, then libtorch's ·1/G (Java's for the stats). */
    private static float[] expected(int n) {
        int t = total();
        float[][] x = new float[n][t];
        for (int r = 0; r < n; r++) {
            for (int i = 0; i < t; i++) {
                x[r][i] = value(r, i);
            }
        }
        float[] sum = ringSum(x);
        float[] out = new float[t];
        try (NDManager rm = m.newSubManager()) {
            float[] g = Arrays.copyOf(sum, t - STATS);
            float[] scaled = Tensors.of(rm, g, new Shape(g.length)).mul(1f / G).toFloatArray();
            System.arraycopy(scaled, 0, out, 0, scaled.length);
        }
        for (int j = t - STATS; j < t; j++) {
            out[j] = sum[j] * (1f / G);
        }
        return out;
    }

    private static void assertSameBits(float[] want, float[] got, String what) {
        assertThat(got).hasSameSizeAs(want);
        for (int i = 0; i < want.length; i++) {
            if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i])) {
                throw new AssertionError(what + ": element " + i + " of V is " + got[i] + ", unbucketed " + want[i]);
            }
        }
    }

    @ParameterizedTest(name = "N = {0}")
    @ValueSource(ints = {2, 3})
    void everyBucketSizeGivesTheUnbucketedBitsWithinTheBucket(int n) throws Exception {
        float[] want = expected(n);
        int t = total();
        for (long bucket : new long[] {1, 2, 3, 7, 50, 64, 99, 407, t - 1, t, 1L << 40}) {
            AtomicInteger longest = new AtomicInteger();
            List<float[]> got = reduce(n, bucket, longest);
            for (int r = 0; r < n; r++) {
                assertSameBits(want, got.get(r), "N=" + n + " bucket " + bucket + " rank " + r);
            }
            assertThat((long) longest.get()).as("largest array, bucket " + bucket)
                    .isLessThanOrEqualTo(Math.max(bucket, n)).isLessThanOrEqualTo(t);
            if (bucket < 407) { // the 407-element parameter spans several buckets
                assertThat(longest.get()).isLessThan(407);
            }
        }
        if (n == 3) { // the check can fail: plain rank order gives other bits somewhere
            float[] naive = new float[t];
            for (int r = 0; r < n; r++) {
                for (int i = 0; i < t; i++) {
                    naive[i] += value(r, i);
                }
            }
            float[][] x = new float[n][t];
            for (int r = 0; r < n; r++) {
                for (int i = 0; i < t; i++) {
                    x[r][i] = value(r, i);
                }
            }
            assertThat(Arrays.equals(naive, ringSum(x))).as("the summation order matters for these inputs").isFalse();
        }
    }

    @Test
    void piecesOfOneTensorReadThroughSeveralViewsAndTheCopyPathGiveTheSameBits() throws Exception {
        float[] want = expected(3);
        long saved = GradientReduction.maxViewElements;
        try {
            GradientReduction.maxViewElements = 13; // the 407-element tensor is read through 32 views
            List<float[]> got = reduce(3, 50, new AtomicInteger());
            for (float[] g : got) {
                assertSameBits(want, g, "views of 13 elements");
            }
        } finally {
            GradientReduction.maxViewElements = saved;
        }
        System.setProperty(GradientReduction.VIEWS, "false");
        try {
            for (float[] g : reduce(3, 50, new AtomicInteger())) {
                assertSameBits(want, g, "-Drq.allreduce.views=false");
            }
        } finally {
            System.clearProperty(GradientReduction.VIEWS);
        }
    }

    @Test
    void bucketSlicesCoverTheRingSegmentsExactly() {
        // every (T, N, b): the slices of bucket k are contiguous per segment, cover V once, and the
        // bucket's own ring segments [s*M/N, (s+1)*M/N) are exactly its slices
        for (long total : new long[] {0, 1, 2, 5, 17, 100, 101, 1000, 3L << 31}) {
            for (int n = 2; n <= 5; n++) {
                for (long b : new long[] {1, 2, 3, 7, 64, 1L << 31}) {
                    long buckets = total / n / b + 1;
                    if (buckets > 10_000) {
                        continue;
                    }
                    long covered = 0;
                    for (long k = 0; k < buckets; k++) {
                        long m = 0;
                        long[] lens = new long[n];
                        for (int s = 0; s < n; s++) {
                            long[] sl = GradientReduction.slice(total, n, s, k, b);
                            assertThat(sl[1] - sl[0]).isBetween(0L, b);
                            lens[s] = sl[1] - sl[0];
                            m += lens[s];
                        }
                        covered += m;
                        long at = 0;
                        for (int s = 0; s < n && m > 0; s++) {
                            assertThat(GradientReduction.segStart(m, n, s)).as("T=%d N=%d b=%d k=%d s=%d", total, n, b, k, s)
                                    .isEqualTo(at);
                            at += lens[s];
                        }
                    }
                    assertThat(covered).isEqualTo(total);
                }
            }
        }
    }
}
