package dev.rq.model.bench;

import ai.djl.ndarray.NDScope;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The timing loop shared by the benchmarks: untimed warm-up calls until the JVM's JIT compiler has
 * settled, then timed calls.
 *
 * <p>HotSpot compiles a method with its optimising compiler (C2) after about 5,000 invocations, so a
 * method that a call runs k times is compiled around call 5,000 / k: on bench64 the JIT compiler
 * threads still took ~10 ms of CPU per tokenize call after 80 calls, on the cores the intra-op
 * threads run on (docs/performance-history.md, "Session 10"). A user's long job gets past that; the official
 * code has no JIT. So after the fixed {@code warmup} calls the warm-up goes on until the JIT
 * compiler threads' CPU time during the last half of the warm-up calls is at most
 * {@link #SETTLED_JIT_SHARE} of the calling thread's CPU time in those calls (on an idle machine about
 * their wall time, as the calling thread runs or spins in every parallel region; unlike wall time it
 * does not grow when other processes take the cores), or until {@code maxWarmupSeconds} have
 * passed (then the result says it did not settle). The JIT and GC threads' CPU during the timed
 * calls is reported with the rate.
 */
public final class BenchTimer {

    /** The JIT compiler threads' CPU time, as a share of the calling thread's CPU time, below which the warm-up ends. */
    public static final double SETTLED_JIT_SHARE = 0.01;

    private BenchTimer() {}

    /**
     * One measurement.
     *
     * @param secondsPerCall mean wall seconds per timed call
     * @param warmupCalls untimed calls before the timed ones
     * @param warmupSeconds their wall time
     * @param settled whether the JIT compiler had settled ({@link #SETTLED_JIT_SHARE}) when timing began
     * @param jitMsPerCall the JIT compiler threads' CPU time per timed call (ms)
     * @param gcMsPerCall the garbage collector threads' CPU time per timed call (ms)
     */
    record Timing(double secondsPerCall, int warmupCalls, double warmupSeconds, boolean settled, double jitMsPerCall,
            double gcMsPerCall) {

        /** Adds {@code PREFIX_warmup_calls}, {@code _warmup_s}, {@code _jit_settled}, {@code _jit_ms_per_call}, {@code _gc_ms_per_call}. */
        void putInto(Map<String, Object> out, String prefix) {
            out.put(prefix + "_warmup_calls", warmupCalls);
            out.put(prefix + "_warmup_s", warmupSeconds);
            out.put(prefix + "_jit_settled", settled);
            out.put(prefix + "_jit_ms_per_call", jitMsPerCall);
            out.put(prefix + "_gc_ms_per_call", gcMsPerCall);
        }
    }

    /**
     * @param warmup untimed calls first, at least
     * @param maxWarmupSeconds then more untimed calls until the JIT has settled, for at most this long
     *     (0: exactly {@code warmup} calls)
     * @param minIters timed calls at least
     * @param minSeconds and at least this long
     * @return the timing (every call in its own {@link NDScope})
     */
    static Timing measure(int warmup, double maxWarmupSeconds, int minIters, double minSeconds, Runnable r) {
        WarmUp w = warmUp(warmup, maxWarmupSeconds, r);
        JvmThreads j0 = JvmThreads.now();
        long t0 = System.nanoTime();
        int iters = 0;
        while (iters < minIters || (System.nanoTime() - t0) / 1e9 < minSeconds) {
            try (NDScope scope = new NDScope()) {
                r.run();
            }
            iters++;
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        JvmThreads d = JvmThreads.now().since(j0);
        return new Timing(seconds / Math.max(iters, 1), w.calls(), w.seconds(), w.settled(),
                d.jitNanos() / 1e6 / Math.max(iters, 1), d.gcNanos() / 1e6 / Math.max(iters, 1));
    }

    /**
     * The warm-up.
     *
     * @param calls untimed calls made
     * @param seconds their wall time
     * @param settled whether the JIT compiler had settled at the end ({@link #SETTLED_JIT_SHARE})
     */
    public record WarmUp(int calls, double seconds, boolean settled) {}

    /**
     * Untimed calls: {@code warmup} at least, then more until the JIT compiler has settled, for at most
     * {@code maxWarmupSeconds} (0: exactly {@code warmup}); every call in its own {@link NDScope}.
     */
    public static WarmUp warmUp(int warmup, double maxWarmupSeconds, Runnable r) {
        long w0 = System.nanoTime();
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        List<long[]> calls = new ArrayList<>(); // per warm-up call: the calling thread's CPU ns, JIT ns
        boolean settled = false;
        while (true) {
            if (calls.size() >= warmup) {
                settled = settled(calls);
                if (settled || maxWarmupSeconds <= 0 || (System.nanoTime() - w0) / 1e9 >= maxWarmupSeconds) {
                    break;
                }
            }
            JvmThreads j = JvmThreads.now();
            long c = mx.getCurrentThreadCpuTime(); // -1 where unsupported: then wall time
            long t = System.nanoTime();
            try (NDScope scope = new NDScope()) {
                r.run();
            }
            long spent = c >= 0 ? mx.getCurrentThreadCpuTime() - c : System.nanoTime() - t;
            calls.add(new long[] {spent, JvmThreads.now().since(j).jitNanos()});
        }
        return new WarmUp(calls.size(), (System.nanoTime() - w0) / 1e9, settled);
    }

    /**
     * @param calls per warm-up call so far: the calling thread's CPU ns, JIT compiler ns
     * @return whether the JIT threads' CPU during the last half of the calls (at least 2) is at most
     *     {@link #SETTLED_JIT_SHARE} of the calling thread's CPU time in them
     */
    static boolean settled(List<long[]> calls) {
        int n = calls.size();
        if (n < 2) {
            return false;
        }
        long caller = 0;
        long jit = 0;
        for (long[] c : calls.subList(n - Math.max(2, n / 2), n)) {
            caller += c[0];
            jit += c[1];
        }
        return jit <= SETTLED_JIT_SHARE * caller;
    }

    /** {@link #measure} with exactly {@code warmup} warm-up calls; mean seconds per timed call. */
    static double secondsPerCall(int warmup, int minIters, double minSeconds, Runnable r) {
        return measure(warmup, 0, minIters, minSeconds, r).secondsPerCall();
    }
}
