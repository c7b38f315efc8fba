package dev.rq.model.bench;

import ai.djl.ndarray.NDScope;

/** The timing loop shared by the benchmarks: untimed warm-up calls, then timed calls. */
final class BenchTimer {

    private BenchTimer() {}

    /**
     * @param warmup untimed calls first
     * @param minIters timed calls at least
     * @param minSeconds and at least this long
     * @return mean seconds per timed call (every call in its own {@link NDScope})
     */
    static double secondsPerCall(int warmup, int minIters, double minSeconds, Runnable r) {
        for (int i = 0; i < warmup; i++) {
            try (NDScope scope = new NDScope()) {
                r.run();
            }
        }
        long t0 = System.nanoTime();
        int iters = 0;
        while (iters < minIters || (System.nanoTime() - t0) / 1e9 < minSeconds) {
            try (NDScope scope = new NDScope()) {
                r.run();
            }
            iters++;
        }
        return (System.nanoTime() - t0) / 1e9 / iters;
    }
}
