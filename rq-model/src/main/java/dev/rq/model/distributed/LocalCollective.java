package dev.rq.model.distributed;

import java.util.List;

/** The one-process {@link Collective}: rank 0 of 1, every operation leaves data unchanged. */
final class LocalCollective implements Collective {

    static final LocalCollective INSTANCE = new LocalCollective();

    private LocalCollective() {}

    @Override
    public int rank() {
        return 0;
    }

    @Override
    public int worldSize() {
        return 1;
    }

    @Override
    public void allReduceSum(float[] data) {}

    @Override
    public void allReduceSum(double[] data) {}

    @Override
    public void broadcast(float[] data, int root) {
        if (root != 0) {
            throw new IllegalArgumentException("root " + root + " out of range for 1 rank");
        }
    }

    @Override
    public List<byte[]> allGather(byte[] data) {
        return List.of(data.clone());
    }
}
