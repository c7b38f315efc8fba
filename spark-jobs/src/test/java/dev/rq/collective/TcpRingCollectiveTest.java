package dev.rq.collective;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Correctness of the ring collectives: exact fixed-order sums, identical bits on all ranks. */
public class TcpRingCollectiveTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    // ---- inputs and the documented reference order ----

    /** Rank r's input for an array of {@code length}: values over ~6 decades so the order matters. */
    public static float[] floats(int rank, int length, long salt) {
        SplittableRandom rnd = new SplittableRandom(salt * 1_000_003L + rank * 7919L + length);
        float[] a = new float[length];
        for (int i = 0; i < length; i++) {
            a[i] = (float) ((rnd.nextDouble() - 0.5) * Math.scalb(1.0, rnd.nextInt(-10, 10)));
        }
        return a;
    }

    static double[] doubles(int rank, int length) {
        SplittableRandom rnd = new SplittableRandom(31L * rank + length);
        double[] a = new double[length];
        for (int i = 0; i < length; i++) {
            a[i] = (rnd.nextDouble() - 0.5) * Math.scalb(1.0, rnd.nextInt(-30, 30));
        }
        return a;
    }

    /**
     * The documented order: element i of segment s = [s*L/N, (s+1)*L/N) is
     * ((x[s+1] + x[s+2]) + ...) + x[s], ranks mod N, in float.
     */
    /** @return what {@code c} holds after all-reducing {@code floats(rank, length, salt)} for each length in turn */
    static List<float[]> allReduceEach(TcpRingCollective c, int[] lengths, long salt) {
        List<float[]> mine = new ArrayList<>();
        for (int length : lengths) {
            float[] data = floats(c.rank(), length, salt);
            c.allReduceSum(data);
            mine.add(data);
        }
        return mine;
    }

    /** @return every rank's {@code floats(rank, length, salt)}, indexed by rank */
    static float[][] inputs(int n, int length, long salt) {
        float[][] inputs = new float[n][];
        for (int r = 0; r < n; r++) {
            inputs[r] = floats(r, length, salt);
        }
        return inputs;
    }

    public static float[] referenceSum(float[][] x) {
        int n = x.length;
        int length = x[0].length;
        float[] out = new float[length];
        for (int s = 0; s < n; s++) {
            int from = (int) ((long) s * length / n);
            int to = (int) ((long) (s + 1) * length / n);
            for (int i = from; i < to; i++) {
                float acc = x[(s + 1) % n][i];
                for (int j = 2; j <= n; j++) {
                    acc += x[(s + j) % n][i];
                }
                out[i] = acc;
            }
        }
        return out;
    }

    static double[] referenceSum(double[][] x) {
        int n = x.length;
        int length = x[0].length;
        double[] out = new double[length];
        for (int s = 0; s < n; s++) {
            int from = (int) ((long) s * length / n);
            int to = (int) ((long) (s + 1) * length / n);
            for (int i = from; i < to; i++) {
                double acc = x[(s + 1) % n][i];
                for (int j = 2; j <= n; j++) {
                    acc += x[(s + j) % n][i];
                }
                out[i] = acc;
            }
        }
        return out;
    }

    public static void assertSameBits(float[] expected, float[] actual, String what) {
        assertThat(actual.length).as(what).isEqualTo(expected.length);
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                throw new AssertionError(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i]);
            }
        }
    }

    // ---- allReduceSum ----

    @ParameterizedTest(name = "N = {0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void allReduceFloatIsExactFixedOrderAndIdenticalOnAllRanks(int n) {
        int[] lengths = {0, 1, 2, 3, 5, 17, 1000, 65_537, 2_000_003};
        List<List<float[]>> results = RingHarness.runOk(n, RingHarness.defaults(n, TIMEOUT),
                c -> allReduceEach(c, lengths, 1));
        for (int li = 0; li < lengths.length; li++) {
            int length = lengths[li];
            float[][] inputs = inputs(n, length, 1);
            float[] expected = referenceSum(inputs);
            for (int r = 0; r < n; r++) {
                assertSameBits(expected, results.get(r).get(li), "N=" + n + " length " + length + " rank " + r);
            }
            if (n >= 3 && length >= 1000) {
                // The check is meaningful: summing in plain rank order gives other bits somewhere.
                float[] naive = new float[length];
                for (float[] x : inputs) {
                    for (int i = 0; i < length; i++) {
                        naive[i] += x[i];
                    }
                }
                assertThat(Arrays.equals(naive, expected)).as("order matters at length " + length).isFalse();
            }
        }
    }

    @Test
    void smallChunksAndOddLengthsGiveTheSameBits() {
        int n = 3;
        int[] lengths = {1023, 1024, 1025, 300_007};
        IntFunction<TcpRingCollective.Builder> builders = RingHarness.defaults(n, TIMEOUT);
        List<List<float[]>> results = RingHarness.runOk(n, r -> builders.apply(r).chunkBytes(4096), c -> {
            List<float[]> mine = new ArrayList<>();
            for (int length : lengths) {
                float[] data = floats(c.rank(), length, 2);
                c.allReduceSum(data);
                mine.add(data);
            }
            return mine;
        });
        for (int li = 0; li < lengths.length; li++) {
            float[][] inputs = new float[n][];
            for (int r = 0; r < n; r++) {
                inputs[r] = floats(r, lengths[li], 2);
            }
            float[] expected = referenceSum(inputs);
            for (int r = 0; r < n; r++) {
                assertSameBits(expected, results.get(r).get(li), "length " + lengths[li] + " rank " + r);
            }
        }
    }

    @Test
    void theWaitForTheSlowerRankIsMeasuredSeparately() {
        int n = 2;
        long lateMs = 300;
        List<long[]> waits = RingHarness.runOk(n, RingHarness.defaults(n, TIMEOUT), c -> {
            float[] warm = floats(c.rank(), 1000, 3);
            c.allReduceSum(warm); // both ranks connected and warm
            if (c.rank() == 1) {
                Thread.sleep(lateMs);
            }
            float[] data = floats(c.rank(), 100_000, 3);
            long t = System.nanoTime();
            c.allReduceSum(data);
            return new long[] {c.lastAllReduceWaitNanos(), System.nanoTime() - t};
        });
        // rank 0 called lateMs early: it waited about that long for rank 1's first bytes, and the
        // wait is part of its call; rank 1 found rank 0 ready and waited (almost) nothing
        assertThat(waits.get(0)[0]).isGreaterThan((lateMs - 50) * 1_000_000L).isLessThanOrEqualTo(waits.get(0)[1]);
        assertThat(waits.get(1)[0]).isLessThan(waits.get(0)[0] / 2).isGreaterThanOrEqualTo(0);
    }

    @ParameterizedTest(name = "N = {0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void allReduceDoubleIsExactFixedOrder(int n) {
        int[] lengths = {0, 2, 3, 1001, 100_003};
        List<List<double[]>> results = RingHarness.runOk(n, RingHarness.defaults(n, TIMEOUT), c -> {
            List<double[]> mine = new ArrayList<>();
            for (int length : lengths) {
                double[] data = doubles(c.rank(), length);
                c.allReduceSum(data);
                mine.add(data);
            }
            return mine;
        });
        for (int li = 0; li < lengths.length; li++) {
            double[][] inputs = new double[n][];
            for (int r = 0; r < n; r++) {
                inputs[r] = doubles(r, lengths[li]);
            }
            double[] expected = referenceSum(inputs);
            for (int r = 0; r < n; r++) {
                // Arrays.equals(double[]) compares doubleToLongBits: bitwise for non-NaN values
                assertThat(Arrays.equals(expected, results.get(r).get(li)))
                        .as("N=%d length %d rank %d", n, lengths[li], r).isTrue();
            }
        }
    }

    // ---- broadcast ----

    @ParameterizedTest(name = "N = {0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void broadcastFromEveryRoot(int n) {
        int[] lengths = {0, 3, 300_001};
        IntFunction<TcpRingCollective.Builder> builders = RingHarness.defaults(n, TIMEOUT);
        List<List<float[]>> results = RingHarness.runOk(n, r -> builders.apply(r).chunkBytes(8192), c -> {
            List<float[]> mine = new ArrayList<>();
            for (int root = 0; root < n; root++) {
                for (int length : lengths) {
                    float[] data = c.rank() == root ? floats(root, length, 3) : new float[length];
                    c.broadcast(data, root);
                    mine.add(data);
                }
            }
            return mine;
        });
        int k = 0;
        for (int root = 0; root < n; root++) {
            for (int length : lengths) {
                float[] expected = floats(root, length, 3);
                for (int r = 0; r < n; r++) {
                    assertSameBits(expected, results.get(r).get(k), "root " + root + " length " + length + " rank " + r);
                }
                k++;
            }
        }
    }

    // ---- allGather, barrier, mixed sequences ----

    @ParameterizedTest(name = "N = {0}")
    @ValueSource(ints = {1, 2, 3, 4})
    void allGatherWithDifferentLengths(int n) {
        List<List<byte[]>> results = RingHarness.runOk(n, RingHarness.defaults(n, TIMEOUT), c -> {
            // rank r sends r * 1000 bytes (rank 0: empty) filled with its rank, plus a big one
            byte[] mine = new byte[c.rank() * 1000 + (c.rank() == n - 1 ? 3_000_000 : 0)];
            Arrays.fill(mine, (byte) (c.rank() + 1));
            List<byte[]> got = c.allGather(mine);
            c.barrier();
            return got;
        });
        for (int r = 0; r < n; r++) {
            List<byte[]> got = results.get(r);
            assertThat(got).hasSize(n);
            for (int src = 0; src < n; src++) {
                byte[] expected = new byte[src * 1000 + (src == n - 1 ? 3_000_000 : 0)];
                Arrays.fill(expected, (byte) (src + 1));
                assertThat(Arrays.equals(expected, got.get(src))).as("rank %d block %d", r, src).isTrue();
            }
        }
    }

    @Test
    void manySmallMixedOperationsInSequence() {
        int n = 3;
        List<String> results = RingHarness.runOk(n, RingHarness.defaults(n, TIMEOUT), c -> {
            StringBuilder log = new StringBuilder();
            for (int i = 0; i < 200; i++) {
                float[] f = {c.rank() + i, 1f};
                c.allReduceSum(f);
                double[] d = {c.rank()};
                c.allReduceSum(d);
                List<byte[]> g = c.allGather(("r" + c.rank() + "i" + i).getBytes(StandardCharsets.UTF_8));
                float[] b = {c.rank() == i % n ? i : -1};
                c.broadcast(b, i % n);
                c.barrier();
                log.append(f[0]).append(',').append(f[1]).append(',').append(d[0]).append(',').append(b[0])
                        .append(',').append(new String(g.get((i + 1) % n), StandardCharsets.UTF_8)).append(';');
            }
            return log.toString();
        });
        assertThat(results.get(1)).isEqualTo(results.get(0));
        assertThat(results.get(2)).isEqualTo(results.get(0));
        assertThat(results.get(0)).startsWith("3.0,3.0,3.0,0.0,r1i0;6.0,3.0,3.0,1.0,r2i1;");
    }

    @Test
    void addressesAndHosts() {
        assertThat(RingSetup.formatAddress("10.0.0.1", 5)).isEqualTo("10.0.0.1:5");
        assertThat(RingSetup.formatAddress("::1", 5)).isEqualTo("[::1]:5");
        assertThat(RingSetup.parseAddress("[::1]:5").getPort()).isEqualTo(5);
        assertThat(RingSetup.parseAddress("[::1]:5").getAddress().isLoopbackAddress()).isTrue();
        assertThat(RingSetup.parseAddress("host-a:7").getHostString()).isEqualTo("host-a");
    }

    @Test
    void closeFromAnotherThreadAbortsACall() {
        int n = 2;
        java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
        List<RingHarness.Outcome<Object>> outcomes = RingHarness.run(n, RingHarness.defaults(n, TIMEOUT), c -> {
            if (c.rank() == 1) {
                done.await(30, java.util.concurrent.TimeUnit.SECONDS);
                return null;
            }
            Thread closer = new Thread(() -> {
                try {
                    Thread.sleep(300);
                } catch (InterruptedException ignored) {
                    // test helper
                }
                c.close();
            });
            closer.start();
            try {
                c.allReduceSum(new float[10]);
            } finally {
                done.countDown();
            }
            return null;
        });
        assertThat(outcomes.get(0).error()).isInstanceOf(CollectiveException.class).hasMessageContaining("closed");
        assertThat(outcomes.get(0).bodyMillis()).isLessThan(3000L);
    }

    @Test
    void singleRankIsANoOpWithoutSockets() {
        TcpRingCollective c = TcpRingCollective.builder().rank(0).worldSize(1).connect();
        float[] f = {1f, 2f};
        c.allReduceSum(f);
        c.broadcast(f, 0);
        c.barrier();
        assertThat(f).containsExactly(1f, 2f);
        assertThat(c.allGather(new byte[] {7})).hasSize(1);
        c.close();
    }
}
