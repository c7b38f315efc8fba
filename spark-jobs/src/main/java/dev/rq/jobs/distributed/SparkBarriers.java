package dev.rq.jobs.distributed;

import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.function.Supplier;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.BarrierTaskContext$;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link BarrierTaskContext#barrier()} and {@link BarrierTaskContext#allGather(String)} without
 * Spark 4.0's leak: each call schedules a "waiting under the global sync" logger every minute on
 * the executor-wide barrier timer and never cancels it (it calls {@code TimerTask.cancel()} on a
 * task it gave to a {@code ScheduledThreadPoolExecutor}, which does nothing; SPARK-51341, fixed in
 * Spark 4.1). Unchecked, every barrier call of a long-lived executor, finished or killed, logs once
 * a minute for the executor's life and keeps its task context reachable: a run with a checkpoint
 * barrier every K steps adds one more logger per checkpoint.
 *
 * <p>Here the loggers that appeared on the timer during the call are cancelled when it returns or
 * throws. Ranks of one executor that meet at the same barrier may cancel each other's logger
 * slightly early; only that progress line is lost. Where Spark's internals differ (another Spark
 * version) the calls run unchanged.
 */
public final class SparkBarriers {
    private static final Logger LOG = LoggerFactory.getLogger(SparkBarriers.class);

    private SparkBarriers() {}

    /** {@link BarrierTaskContext#barrier()}, then its progress logger is cancelled. */
    public static void barrier(BarrierTaskContext ctx) {
        withoutLeak(() -> {
            ctx.barrier();
            return null;
        });
    }

    /** {@link BarrierTaskContext#allGather(String)}, then its progress logger is cancelled. */
    public static String[] allGather(BarrierTaskContext ctx, String message) {
        return withoutLeak(() -> ctx.allGather(message));
    }

    /** @return the scheduled loggers of the barrier timer (empty when it cannot be reached) */
    static Set<Runnable> scheduled() {
        ScheduledThreadPoolExecutor timer = timer();
        Set<Runnable> s = Collections.newSetFromMap(new IdentityHashMap<>());
        if (timer != null) {
            s.addAll(List.copyOf(timer.getQueue()));
        }
        return s;
    }

    private static <T> T withoutLeak(Supplier<T> call) {
        Set<Runnable> before = scheduled();
        try {
            return call.get();
        } finally {
            ScheduledThreadPoolExecutor timer = timer();
            if (timer != null) {
                for (Runnable r : List.copyOf(timer.getQueue())) {
                    if (!before.contains(r) && r instanceof Future<?> f) {
                        f.cancel(false);
                    }
                }
                timer.purge();
            }
        }
    }

    private static ScheduledThreadPoolExecutor timer() {
        try {
            return BarrierTaskContext$.MODULE$.org$apache$spark$BarrierTaskContext$$timer();
        } catch (LinkageError e) {
            LOG.debug("Spark's barrier timer is not reachable ({}): barrier loggers are left as they are", e.toString());
            return null;
        }
    }
}
