package dev.rq.collective;

import java.time.Duration;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.CyclicBarrier;

/**
 * Micro-benchmark (not a test): {@link TcpRingCollective#allReduceSum(float[])} with N ranks as
 * threads of one JVM on loopback.
 *
 * <pre>
 *   java -cp spark-jobs/target/classes:&lt;rq-model jar&gt; dev.rq.collective.RingAllReduceBench \
 *       [floats=6000000] [ranks=2] [iterations=20] [chunkBytes=1048576]
 * </pre>
 * Prints ms/op, the algorithm bandwidth (array bytes / time) and the bus bandwidth
 * (2(N-1)/N · array bytes / time, the bytes each rank sends per op; NCCL's convention).
 */
public final class RingAllReduceBench {

    private RingAllReduceBench() {}

    public static void main(String[] args) throws Exception {
        int floats = args.length > 0 ? Integer.parseInt(args[0]) : 6_000_000;
        int ranks = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        int iterations = args.length > 2 ? Integer.parseInt(args[2]) : 20;
        int chunkBytes = args.length > 3 ? Integer.parseInt(args[3]) : 1 << 20;
        int warmup = 5;
        LocalRendezvous rv = new LocalRendezvous(ranks, Duration.ofSeconds(30));
        CyclicBarrier start = new CyclicBarrier(ranks);
        long[] nanos = new long[ranks];
        Throwable[] errors = new Throwable[ranks];
        Thread[] threads = new Thread[ranks];
        for (int r = 0; r < ranks; r++) {
            int rank = r;
            threads[r] = new Thread(() -> {
                try (TcpRingCollective c = TcpRingCollective.builder().rank(rank).worldSize(ranks)
                        .rendezvous(rv.forRank(rank)).runToken("bench").chunkBytes(chunkBytes)
                        .timeout(Duration.ofSeconds(60)).connect()) {
                    float[] data = new float[floats];
                    SplittableRandom rnd = new SplittableRandom(rank);
                    for (int i = 0; i < floats; i++) {
                        data[i] = (float) rnd.nextDouble();
                    }
                    float[] work = new float[floats];
                    for (int i = 0; i < warmup; i++) {
                        System.arraycopy(data, 0, work, 0, floats);
                        c.allReduceSum(work);
                    }
                    start.await();
                    long t0 = System.nanoTime();
                    for (int i = 0; i < iterations; i++) {
                        c.allReduceSum(work); // values grow; the cost does not depend on them
                    }
                    nanos[rank] = System.nanoTime() - t0;
                } catch (Throwable e) {
                    errors[rank] = e;
                }
            }, "bench-rank-" + r);
            threads[r].start();
        }
        for (Thread t : threads) {
            t.join();
        }
        for (Throwable e : errors) {
            if (e != null) {
                throw new RuntimeException(e);
            }
        }
        double ms = Arrays.stream(nanos).max().getAsLong() / 1e6 / iterations;
        double bytes = 4.0 * floats;
        double algBw = bytes / (ms / 1e3) / 1e9;
        double busBw = algBw * 2.0 * (ranks - 1) / ranks;
        System.out.printf("allReduceSum(float[%d]) x%d ranks, chunk %d B, %d iterations: %.1f ms/op, "
                        + "algbw %.2f GB/s, busbw %.2f GB/s (per rank, each direction)%n",
                floats, ranks, chunkBytes, iterations, ms, algBw, busBw);
    }
}
