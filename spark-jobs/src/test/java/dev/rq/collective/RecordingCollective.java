package dev.rq.collective;

import dev.rq.model.distributed.Collective;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A collective that passes every call to {@code ring} and records the longest array all-reduced and the
 * longest broadcast (tests: buckets bound what reaches the ring).
 */
record RecordingCollective(Collective ring, AtomicInteger longestAllReduce, AtomicInteger longestBroadcast)
        implements Collective {

    @Override
    public int rank() {
        return ring.rank();
    }

    @Override
    public int worldSize() {
        return ring.worldSize();
    }

    @Override
    public void allReduceSum(float[] data) {
        longestAllReduce.accumulateAndGet(data.length, Math::max);
        ring.allReduceSum(data);
    }

    @Override
    public void allReduceSum(double[] data) {
        ring.allReduceSum(data);
    }

    @Override
    public void broadcast(float[] data, int root) {
        longestBroadcast.accumulateAndGet(data.length, Math::max);
        ring.broadcast(data, root);
    }

    @Override
    public List<byte[]> allGather(byte[] data) {
        return ring.allGather(data);
    }

    @Override
    public long lastAllReduceWaitNanos() {
        return ring.lastAllReduceWaitNanos();
    }
}
