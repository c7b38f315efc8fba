package dev.rq.collective;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.distributed.Collective;
import dev.rq.model.distributed.TreeSum;
import dev.rq.model.engine.Engines;
import dev.rq.model.nn.Tensors;
import dev.rq.model.train.GradientReduction;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link GradientReduction}'s buckets over the real {@link TcpRingCollective}: for N = 2 and N = 3 (ring
 * order) and N = 3..5 (tree order), every bucket size gives the bits of one all-reduce of all gradients and
 * statistics in the collective's documented order (a parameter larger than the bucket included), and no array handed to the ring exceeds the bucket.
 */
class GradientReductionRingTest {

    private static final long[][] SHAPES = {{300, 7}, {5}, {33}, {1}};
    private static final int STATS = 4;
    private static final int G = 4;

    private static NDManager m;

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

    private static int total() {
        int t = STATS;
        for (long[] s : SHAPES) {
            t += (int) new Shape(s).size();
        }
        return t;
    }

    @ParameterizedTest(name = "N = {0}")
    @ValueSource(ints = {2, 3})
    void bucketsGiveTheBitsOfOneRingAllReduce(int n) {
        bucketsGiveTheBitsOfOneAllReduce(n, false);
    }

    /** In the tree order ({@code train.allreduce_order}), the bits of {@link TreeSum} over the ranks, for any bucket. */
    @ParameterizedTest(name = "N = {0}")
    @ValueSource(ints = {3, 4, 5})
    void bucketsGiveTheBitsOfOneTreeOrderAllReduce(int n) {
        bucketsGiveTheBitsOfOneAllReduce(n, true, false);
    }

    /** The same over the mesh ({@link TcpRingCollective.Builder#mesh}). */
    @ParameterizedTest(name = "N = {0}")
    @ValueSource(ints = {4})
    void bucketsGiveTheBitsOfOneTreeOrderAllReduceOverTheMesh(int n) {
        bucketsGiveTheBitsOfOneAllReduce(n, true, true);
    }

    private void bucketsGiveTheBitsOfOneAllReduce(int n, boolean tree) {
        bucketsGiveTheBitsOfOneAllReduce(n, tree, false);
    }

    private void bucketsGiveTheBitsOfOneAllReduce(int n, boolean tree, boolean mesh) {
        int t = total();
        float[][] x = new float[n][];
        for (int r = 0; r < n; r++) {
            x[r] = TcpRingCollectiveTest.floats(r, t, 5);
        }
        float[] sum = tree ? TreeSum.ofFloats(Arrays.asList(x)) : TcpRingCollectiveTest.referenceSum(x);
        float[] want = new float[t];
        try (NDManager s = m.newSubManager()) {
            float[] g = Arrays.copyOf(sum, t - STATS);
            System.arraycopy(Tensors.of(s, g, new Shape(g.length)).mul(1f / G).toFloatArray(), 0, want, 0, g.length);
        }
        for (int j = t - STATS; j < t; j++) {
            want[j] = sum[j] * (1f / G);
        }
        long[] buckets = {1, 100, 1000, 1L << 40};
        var builders = RingHarness.defaults(n, Duration.ofSeconds(30));
        List<List<float[]>> got = RingHarness.runOk(n, r -> builders.apply(r).treeOrder(tree).mesh(mesh), c -> {
            List<float[]> out = new java.util.ArrayList<>();
            for (long bucket : buckets) {
                AtomicInteger longest = new AtomicInteger();
                try (NDManager rm = m.newSubManager()) {
                    Map<String, NDArray> local = new LinkedHashMap<>();
                    int at = 0;
                    for (int k = 0; k < SHAPES.length; k++) {
                        Shape s = new Shape(SHAPES[k]);
                        local.put("p" + k, Tensors.of(rm, Arrays.copyOfRange(x[c.rank()], at, at + (int) s.size()), s));
                        at += (int) s.size();
                    }
                    float[] stats = Arrays.copyOfRange(x[c.rank()], at, t);
                    Map<String, NDArray> red = GradientReduction.reduce(local, stats, G, new RecordingCollective(c, longest, new AtomicInteger()),
                            null, new GradientReduction.Buffer(bucket));
                    float[] all = new float[t];
                    at = 0;
                    for (NDArray g : red.values()) {
                        float[] v = g.toFloatArray();
                        System.arraycopy(v, 0, all, at, v.length);
                        at += v.length;
                    }
                    System.arraycopy(stats, 0, all, at, STATS);
                    out.add(all);
                }
                assertThat((long) longest.get()).as("bucket " + bucket).isLessThanOrEqualTo(Math.max(bucket, n));
            }
            return out;
        });
        for (int r = 0; r < n; r++) {
            for (int b = 0; b < buckets.length; b++) {
                TcpRingCollectiveTest.assertSameBits(want, got.get(r).get(b), "N=" + n + " rank " + r + " bucket "
                        + buckets[b]);
            }
        }
    }
}
