package dev.rq.model.distributed;

import java.util.List;

/**
 * The collective operations the model and trainer need to make statistics global across
 * data-parallel ranks. A single process uses {@link #local()}, which is a no-op.
 *
 * <p>All operations are blocking and must be called by every rank in the same order with arrays
 * of the same length (SPMD). Implementations must be <b>deterministic</b>: {@link #allReduceSum}
 * returns bit-identical results on every rank, and the result does not depend on timing (fixed
 * chunking and a fixed summation order). Arrays are host float arrays; callers copy NDArrays to
 * and from the host around a call.
 *
 * <p>Where the order of {@link #allReduceSum(float[])} depends on an element's position, it must do so
 * only through the segment {@code [s*L/N, (s+1)*L/N)} that holds it (as the TCP ring does): the
 * trainer's gradient buckets ({@code dev.rq.model.train.GradientReduction}) rely on this to give the
 * bits of one call over all gradients. An order that does not depend on the position (the TCP ring's
 * tree order: {@link TreeSum} over the ranks, {@code train.allreduce_order}) satisfies this trivially.
 */
public interface Collective extends AutoCloseable {

    /** @return this process's rank in {@code [0, worldSize)}. */
    int rank();

    /** @return the number of ranks. */
    int worldSize();

    /**
     * Sums {@code data} element-wise over all ranks, in place. On return every rank holds the same
     * bits.
     *
     * @param data this rank's contribution; replaced by the global sum
     */
    void allReduceSum(float[] data);

    /**
     * Sums {@code data} element-wise over all ranks in double precision, in place (for small
     * statistics such as counts where float rounding would be visible).
     *
     * @param data this rank's contribution; replaced by the global sum
     */
    void allReduceSum(double[] data);

    /**
     * Copies root's {@code data} into every other rank's {@code data} (same length everywhere).
     *
     * @param data root's values on root; overwritten with them elsewhere
     * @param root the sending rank
     */
    void broadcast(float[] data, int root);

    /**
     * Gathers one byte array from every rank, to every rank.
     *
     * @param data this rank's bytes (may differ in length between ranks)
     * @return the arrays of all ranks, indexed by rank
     */
    List<byte[]> allGather(byte[] data);

    /** Blocks until every rank has reached this point. */
    default void barrier() {
        allGather(new byte[0]);
    }

    /**
     * How long the last {@link #allReduceSum(float[])} of this rank waited before the first bytes
     * of another rank's contribution arrived: waiting for the slowest rank to reach the call (plus
     * one message latency). The rest of the call is transfer and summation.
     *
     * @return nanoseconds; 0 for one rank or an implementation that does not measure it
     */
    default long lastAllReduceWaitNanos() {
        return 0;
    }

    @Override
    default void close() {}

    /** @return the single-process collective (rank 0 of 1): every operation is a no-op. */
    static Collective local() {
        return LocalCollective.INSTANCE;
    }
}
