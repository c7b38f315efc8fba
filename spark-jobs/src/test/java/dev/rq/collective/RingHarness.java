package dev.rq.collective;

import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/** Runs N ranks of a {@link TcpRingCollective} as threads of this JVM on 127.0.0.1. */
final class RingHarness {

    private RingHarness() {}

    interface RankBody<T> {
        T run(TcpRingCollective c) throws Exception;
    }

    /**
     * @param value what the body returned (null on error)
     * @param error what setup or body threw (null on success)
     * @param bodyMillis time spent in the body (from after setup); -1 if setup failed
     * @param totalMillis time from thread start, setup included
     */
    record Outcome<T>(T value, Throwable error, long bodyMillis, long totalMillis) {}

    /** Builders for N ranks sharing one in-memory rendezvous, token "test", attempt 0. */
    static IntFunction<TcpRingCollective.Builder> defaults(int n, Duration timeout) {
        LocalRendezvous rv = new LocalRendezvous(n, Duration.ofSeconds(30));
        return r -> TcpRingCollective.builder()
                .rank(r)
                .worldSize(n)
                .host("127.0.0.1")
                .rendezvous(rv.forRank(r))
                .runToken("test")
                .attempt(0)
                .timeout(timeout);
    }

    /** Connects each rank, runs {@code body}, closes; all ranks at once, each on its own thread. */
    static <T> List<Outcome<T>> run(int n, IntFunction<TcpRingCollective.Builder> builders, RankBody<T> body) {
        List<Outcome<T>> outcomes = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            outcomes.add(null);
        }
        List<Thread> threads = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            int rank = r;
            Thread t = new Thread(() -> {
                long t0 = System.nanoTime();
                long t1 = -1;
                try (TcpRingCollective c = builders.apply(rank).connect()) {
                    t1 = System.nanoTime();
                    T value = body.run(c);
                    synchronized (outcomes) {
                        outcomes.set(rank, new Outcome<>(value, null, ms(t1), ms(t0)));
                    }
                } catch (Throwable e) {
                    synchronized (outcomes) {
                        outcomes.set(rank, new Outcome<>(null, e, t1 < 0 ? -1 : ms(t1), ms(t0)));
                    }
                }
            }, "rank-" + r);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        for (Thread t : threads) {
            try {
                t.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                fail("interrupted");
            }
            if (t.isAlive()) {
                fail(t.getName() + " still running after 90 s: the ring hangs");
            }
        }
        synchronized (outcomes) {
            return new ArrayList<>(outcomes);
        }
    }

    /** Like {@link #run} but fails the test if any rank failed; returns the values by rank. */
    static <T> List<T> runOk(int n, IntFunction<TcpRingCollective.Builder> builders, RankBody<T> body) {
        List<Outcome<T>> outcomes = run(n, builders, body);
        List<T> values = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            Outcome<T> o = outcomes.get(r);
            if (o.error() != null) {
                throw new AssertionError("rank " + r + " failed: " + o.error(), o.error());
            }
            values.add(o.value());
        }
        return values;
    }

    private static long ms(long since) {
        return (System.nanoTime() - since) / 1_000_000;
    }
}
