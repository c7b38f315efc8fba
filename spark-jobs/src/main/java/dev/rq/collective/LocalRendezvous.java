package dev.rq.collective;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;

/**
 * An in-memory {@link Rendezvous} for N ranks running as threads in one JVM (tests, benchmarks).
 * Single use: each rank takes its view with {@link #forRank(int)} and calls
 * {@link Rendezvous#allGather} once; the call waits until all N ranks have arrived, or fails with
 * a {@link CollectiveTimeoutException} after the timeout.
 */
public final class LocalRendezvous {

    private final String[] addresses;
    private final long timeoutNanos;
    private int arrived;

    /**
     * @param worldSize number of ranks
     * @param timeout how long a rank waits for the others
     */
    public LocalRendezvous(int worldSize, Duration timeout) {
        if (worldSize < 1) {
            throw new IllegalArgumentException("worldSize must be >= 1: " + worldSize);
        }
        this.addresses = new String[worldSize];
        this.timeoutNanos = timeout.toNanos();
    }

    /** @return the rendezvous as seen by {@code rank} */
    public Rendezvous forRank(int rank) {
        if (rank < 0 || rank >= addresses.length) {
            throw new IllegalArgumentException("rank " + rank + " out of range");
        }
        return myAddress -> gather(rank, myAddress);
    }

    private synchronized List<String> gather(int rank, String address) {
        if (addresses[rank] != null) {
            throw new IllegalStateException("rank " + rank + " already joined this rendezvous");
        }
        addresses[rank] = address;
        arrived++;
        notifyAll();
        long deadline = System.nanoTime() + timeoutNanos;
        while (arrived < addresses.length) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new CollectiveTimeoutException(
                        "rank " + rank + ": local rendezvous timed out with " + arrived + " of "
                                + addresses.length + " ranks arrived",
                        "rendezvous", -1);
            }
            try {
                wait(Math.max(1, left / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CollectiveException("rank " + rank + ": interrupted in local rendezvous",
                        "rendezvous", -1, e);
            }
        }
        return List.copyOf(Arrays.asList(addresses));
    }
}
