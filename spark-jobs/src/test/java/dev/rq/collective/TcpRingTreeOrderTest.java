package dev.rq.collective;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rq.model.distributed.TreeSum;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link TcpRingCollective.Builder#treeOrder}: over TCP, every element's sum has the bits of {@link TreeSum}
 * over the ranks' values (what one process summing the same terms gets), on every rank, for any length and
 * chunk size; ranks of different orders fail instead of mixing data; a hung or dead rank makes the others fail
 * with a {@link CollectiveException} (within the timeout, or at once), as in the ring order.
 */
class TcpRingTreeOrderTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    static IntFunction<TcpRingCollective.Builder> tree(int n) {
        return tree(n, false, TIMEOUT);
    }

    /** Tree-order builders; {@code mesh}: the reduce-scatter exchanges directly ({@link TcpRingCollective.Builder#mesh}). */
    static IntFunction<TcpRingCollective.Builder> tree(int n, boolean mesh, Duration timeout) {
        IntFunction<TcpRingCollective.Builder> b = RingHarness.defaults(n, timeout);
        return r -> b.apply(r).treeOrder(true).mesh(mesh);
    }

    static float[] treeSum(float[][] x) {
        return TreeSum.ofFloats(Arrays.asList(x));
    }

    static double treeSum(double[][] x, int i, int lo, int hi) {
        if (hi - lo == 1) {
            return x[lo][i];
        }
        int mid = (lo + hi) >>> 1;
        return treeSum(x, i, lo, mid) + treeSum(x, i, mid, hi);
    }

    @ParameterizedTest(name = "N = {0}")
    @ValueSource(ints = {2, 3, 4, 5, 7})
    void floatSumsHaveTheBitsOfTreeSumOverTheRanks(int n) {
        floatSums(n, false);
    }

    @ParameterizedTest(name = "N = {0}")
    @ValueSource(ints = {2, 3, 4, 5, 7})
    void overTheMeshTheSameBits(int n) {
        floatSums(n, true);
    }

    private void floatSums(int n, boolean mesh) {
        int[] lengths = {0, 1, 2, 3, 5, 17, 1000, 65_537, 300_007};
        List<List<float[]>> results = RingHarness.runOk(n, tree(n, mesh, TIMEOUT), c -> {
            assertThat(c.treeOrder()).isTrue();
            assertThat(c.peers()).isEqualTo(mesh && n > 2 ? n - 1 : 1);
            return TcpRingCollectiveTest.allReduceEach(c, lengths, 1);
        });
        for (int li = 0; li < lengths.length; li++) {
            int length = lengths[li];
            float[][] inputs = TcpRingCollectiveTest.inputs(n, length, 1);
            float[] expected = treeSum(inputs);
            for (int r = 0; r < n; r++) {
                TcpRingCollectiveTest.assertSameBits(expected, results.get(r).get(li),
                        "N=" + n + (mesh ? " mesh" : "") + " length " + length + " rank " + r);
            }
            if (n >= 3 && length >= 1000) { // meaningful: the ring's order gives other bits somewhere
                assertThat(Arrays.equals(TcpRingCollectiveTest.referenceSum(inputs), expected))
                        .as("ring and tree orders differ at N=%d length %d", n, length).isFalse();
            }
        }
    }

    @ParameterizedTest(name = "N = {0}")
    @ValueSource(ints = {3, 4, -4})
    void doubleSumsAndSmallChunksToo(int signedN) {
        int n = Math.abs(signedN); // negative: over the mesh
        int[] lengths = {2, 3, 1001, 100_003};
        IntFunction<TcpRingCollective.Builder> b = tree(n, signedN < 0, TIMEOUT);
        List<List<Object>> results = RingHarness.runOk(n, r -> b.apply(r).chunkBytes(4096), c -> {
            List<Object> mine = new ArrayList<>();
            for (int length : lengths) {
                double[] d = TcpRingCollectiveTest.doubles(c.rank(), length);
                c.allReduceSum(d);
                float[] f = TcpRingCollectiveTest.floats(c.rank(), length, 2);
                c.allReduceSum(f);
                mine.add(d);
                mine.add(f);
            }
            return mine;
        });
        for (int li = 0; li < lengths.length; li++) {
            double[][] dx = new double[n][];
            float[][] fx = new float[n][];
            for (int r = 0; r < n; r++) {
                dx[r] = TcpRingCollectiveTest.doubles(r, lengths[li]);
                fx[r] = TcpRingCollectiveTest.floats(r, lengths[li], 2);
            }
            double[] want = new double[lengths[li]];
            for (int i = 0; i < want.length; i++) {
                want[i] = treeSum(dx, i, 0, n);
            }
            for (int r = 0; r < n; r++) {
                assertThat(Arrays.equals(want, (double[]) results.get(r).get(2 * li)))
                        .as("N=%d double length %d rank %d", n, lengths[li], r).isTrue();
                TcpRingCollectiveTest.assertSameBits(treeSum(fx), (float[]) results.get(r).get(2 * li + 1),
                        "N=" + n + " chunk 4096 length " + lengths[li] + " rank " + r);
            }
        }
    }

    @Test
    void ranksOfDifferentOrdersFailWithAProtocolMismatch() {
        int n = 3;
        IntFunction<TcpRingCollective.Builder> b = RingHarness.defaults(n, TIMEOUT);
        List<RingHarness.Outcome<Object>> out = RingHarness.run(n, r -> b.apply(r).treeOrder(r != 1), c -> {
            c.allReduceSum(new float[100]);
            return null;
        });
        assertThat(out).allMatch(o -> o.error() instanceof CollectiveException);
        assertThat(out).anyMatch(o -> o.error().getMessage().contains("protocol mismatch"));
    }

    @ParameterizedTest(name = "mesh {0}")
    @ValueSource(booleans = {false, true})
    void aHungRankMakesTheOthersFailWithinTheTimeout(boolean mesh) {
        int n = 4;
        CountDownLatch othersDone = new CountDownLatch(n - 1);
        List<RingHarness.Outcome<Object>> out = RingHarness.run(n, tree(n, mesh, Duration.ofSeconds(2)), c -> {
            c.allReduceSum(new float[10_000]); // all ranks take part once
            if (c.rank() == 2) { // then stops participating, sockets open
                othersDone.await(30, TimeUnit.SECONDS);
                return null;
            }
            try {
                c.allReduceSum(new float[100_000]);
            } finally {
                othersDone.countDown();
            }
            return null;
        });
        for (int r : new int[] {0, 1, 3}) {
            assertThat(out.get(r).error()).as("rank %d", r).isInstanceOf(CollectiveException.class)
                    .hasMessageContaining("allReduceSum");
            assertThat(out.get(r).bodyMillis()).as("rank %d", r).isLessThan(6000L);
        }
        assertThat(out.get(3).error()).isInstanceOf(CollectiveTimeoutException.class).hasMessageContaining("rank 2");
    }

    @ParameterizedTest(name = "mesh {0}")
    @ValueSource(booleans = {false, true})
    void aDeadRankFailsTheOthersFast(boolean mesh) {
        int n = 4;
        List<RingHarness.Outcome<Object>> out = RingHarness.run(n, tree(n, mesh, Duration.ofSeconds(20)), c -> {
            c.allReduceSum(new float[10_000]);
            if (c.rank() == 1) {
                c.close(); // dies between two calls
                return null;
            }
            Thread.sleep(200);
            c.allReduceSum(new float[100_000]);
            return null;
        });
        for (int r : new int[] {0, 2, 3}) {
            assertThat(out.get(r).error()).as("rank %d", r).isInstanceOf(CollectiveException.class)
                    .isNotInstanceOf(CollectiveTimeoutException.class);
            assertThat(out.get(r).bodyMillis()).as("rank %d", r).isLessThan(5000L);
        }
    }

    @Test
    void theMeshNeedsNoMorePortsThanTheRing() {
        // one listening port per rank at a time: the mesh's setups (strides 2..N-1) reuse the range the
        // ring was set up in, also with exactly N ports for N ranks on one host
        int n = 5;
        int lo = TcpRingCollectiveFailureTest.freeRange(n);
        PortRange range = new PortRange(lo, lo + n - 1);
        IntFunction<TcpRingCollective.Builder> b = tree(n, true, TIMEOUT);
        List<float[]> got = RingHarness.runOk(n, r -> b.apply(r).ports(range), c -> {
            assertThat(c.peers()).isEqualTo(n - 1);
            assertThat(c.listenPort()).isBetween(lo, lo + n - 1);
            float[] data = TcpRingCollectiveTest.floats(c.rank(), 1001, 4);
            c.allReduceSum(data);
            return data;
        });
        float[][] x = new float[n][];
        for (int r = 0; r < n; r++) {
            x[r] = TcpRingCollectiveTest.floats(r, 1001, 4);
        }
        for (int r = 0; r < n; r++) {
            TcpRingCollectiveTest.assertSameBits(treeSum(x), got.get(r), "rank " + r);
        }
    }

    @Test
    void aMessageCarriesAtMostTwoNodesPerTreeLevel() {
        for (int n = 2; n <= 64; n++) {
            int levels = 32 - Integer.numberOfLeadingZeros(n - 1); // ceil(log2 n)
            for (int start = 0; start < n; start++) {
                for (int count = 1; count <= n; count++) {
                    int k = RingTree.carried(n, start, count).size();
                    assertThat(k).as("N=%d start %d count %d", n, start, count).isBetween(1, 2 * levels);
                    if (count == n) {
                        assertThat(k).isEqualTo(1);
                    }
                }
            }
        }
        assertThat(RingTree.reduceScatterFactor(2)).isEqualTo(1.0);
        assertThat(RingTree.reduceScatterFactor(3)).isEqualTo(1.5);
        assertThat(RingTree.reduceScatterFactor(4)).isEqualTo(5.0 / 3);
    }
}
