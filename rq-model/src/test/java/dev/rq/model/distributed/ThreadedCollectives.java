package dev.rq.model.distributed;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;

/**
 * In-process {@link Collective}s for tests: N ranks as N threads exchanging through shared slots,
 * summing in rank order (deterministic, like the ring). {@link #run} runs one function per rank
 * and returns the results by rank.
 */
public final class ThreadedCollectives {

    private final int n;
    private final CyclicBarrier barrier;
    private final Object[] slots;

    private ThreadedCollectives(int n) {
        this.n = n;
        this.barrier = new CyclicBarrier(n);
        this.slots = new Object[n];
    }

    /** Runs {@code body} on ranks 0..n−1 concurrently. */
    public static <T> List<T> run(int n, Function<Collective, T> body) throws Exception {
        ThreadedCollectives g = new ThreadedCollectives(n);
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<T>> fs = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                Rank rank = g.new Rank(r);
                fs.add(pool.submit(() -> body.apply(rank)));
            }
            List<T> out = new ArrayList<>();
            for (Future<T> f : fs) {
                out.add(f.get());
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    private final class Rank implements Collective {
        private final int rank;

        Rank(int rank) {
            this.rank = rank;
        }

        @Override
        public int rank() {
            return rank;
        }

        @Override
        public int worldSize() {
            return n;
        }

        private Object[] exchange(Object mine) {
            try {
                slots[rank] = mine;
                barrier.await();
                Object[] all = slots.clone();
                barrier.await();
                return all;
            } catch (InterruptedException | BrokenBarrierException e) {
                throw new IllegalStateException(e);
            }
        }

        @Override
        public void allReduceSum(float[] data) {
            Object[] all = exchange(data.clone());
            float[] sum = new float[data.length];
            for (Object o : all) {
                float[] a = (float[]) o;
                for (int i = 0; i < sum.length; i++) {
                    sum[i] += a[i];
                }
            }
            System.arraycopy(sum, 0, data, 0, data.length);
        }

        @Override
        public void allReduceSum(double[] data) {
            Object[] all = exchange(data.clone());
            double[] sum = new double[data.length];
            for (Object o : all) {
                double[] a = (double[]) o;
                for (int i = 0; i < sum.length; i++) {
                    sum[i] += a[i];
                }
            }
            System.arraycopy(sum, 0, data, 0, data.length);
        }

        @Override
        public void broadcast(float[] data, int root) {
            Object[] all = exchange(data.clone());
            System.arraycopy((float[]) all[root], 0, data, 0, data.length);
        }

        @Override
        public List<byte[]> allGather(byte[] data) {
            Object[] all = exchange(data.clone());
            List<byte[]> out = new ArrayList<>();
            for (Object o : all) {
                out.add(((byte[]) o).clone());
            }
            return out;
        }
    }
}
