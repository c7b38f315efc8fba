package dev.rq.collective;

import java.util.List;

/**
 * Exchanges one address string per rank, so that every rank learns every other rank's listening
 * address before the ring is connected.
 *
 * <p>Contract: every rank of the group calls {@link #allGather} exactly once per ring setup; the
 * call blocks until all ranks have called it (or fails, for example on a timeout) and returns the
 * strings of all ranks <b>indexed by rank</b>, identical on every rank.
 *
 * <p>Implementations: {@link SparkBarrierRendezvous} (through the Spark driver's barrier
 * coordinator) and {@link LocalRendezvous} (threads of one JVM, for tests and benchmarks).
 */
public interface Rendezvous {

    /**
     * @param myAddress this rank's address, {@code host:port} (IPv6 hosts in brackets)
     * @return the addresses of all ranks, indexed by rank; element {@code rank} is {@code myAddress}
     */
    List<String> allGather(String myAddress);
}
