package dev.rq.model.train;

import ai.djl.ndarray.NDArray;
import dev.rq.model.distributed.Collective;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.TensorData;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Sharded optimizer state (ZeRO stage 1, {@code train.shard_optimizer_state}): which rank owns which
 * parameter tensor, and the two transfers that sharding adds.
 *
 * <h2>Ownership</h2>
 * Whole tensors, in parameter order, are cut into N contiguous runs of about equal size: tensor i
 * (sizes {@code s}, prefix sums {@code P}, total T) belongs to rank {@code floor(N·(P_i + s_i/2) / T)},
 * the rank whose share of the flat vector holds the tensor's midpoint. A function of the sizes and N
 * only (never of timing); every rank owns at most ⌈T/N⌉ plus one tensor's elements.
 *
 * <h2>Parameter sync</h2>
 * After each rank ran Adam on its own tensors, every parameter is copied from its owner: per owner r,
 * r's updated tensors in order are sent in buckets of at most B elements, one {@link
 * Collective#broadcast} each (root r), read from and written into the tensors' memory in place. A
 * broadcast copies bits, so every rank ends with the owner's weights: the same bits as the unsharded
 * step, where every rank ran the same update on the same all-reduced gradient.
 *
 * <h2>Checkpoint stream</h2>
 * The writer (rank 0) writes the unsharded file: a moment it does not own is a {@link TensorData} that
 * receives the tensor from its owner in buckets, written as they arrive; the other ranks {@link #serve}
 * the same sequence of broadcasts at the same time. Host memory is one bucket on every rank.
 */
public final class OptimizerShards {

    private final Collective collective;
    private final long bucketElements;
    /** Host arrays by length (a full bucket and the remainders): at most N + 1, each at most a bucket. */
    private final Map<Integer, float[]> arrays = new HashMap<>();

    /** @param bucketElements float32 elements per broadcast B (at least 1) */
    public OptimizerShards(Collective collective, long bucketElements) {
        this.collective = collective;
        this.bucketElements = bucketElements;
    }

    /**
     * @param sizes elements per tensor, in parameter order
     * @param n ranks
     * @return the owning rank of every tensor (contiguous, size-balanced runs; see the class comment)
     */
    public static int[] owners(long[] sizes, int n) {
        long total = 0;
        for (long s : sizes) {
            total += s;
        }
        int[] owner = new int[sizes.length];
        long prefix = 0;
        for (int i = 0; i < sizes.length; i++) {
            // the midpoint P + s/2 in half elements: integer arithmetic only
            owner[i] = total == 0 ? 0
                    : (int) Math.min(n - 1, Math.multiplyExact(2 * prefix + sizes[i], (long) n) / (2 * total));
            prefix += sizes[i];
        }
        return owner;
    }

    /**
     * Copies every tensor from its owner to all ranks (bucketed broadcasts, in place).
     *
     * @param tensors float32 CPU tensors in parameter order (the same list on every rank)
     * @param owner owning rank of each tensor
     */
    public void sync(List<NDArray> tensors, int[] owner) {
        for (int r = 0; r < collective.worldSize(); r++) {
            List<NDArray> owned = new ArrayList<>(); // r's tensors, in order
            long total = 0;
            for (int i = 0; i < tensors.size(); i++) {
                if (owner[i] == r) {
                    owned.add(tensors.get(i));
                    total += tensors.get(i).size();
                }
            }
            Cursor at = new Cursor(owned);
            boolean root = collective.rank() == r;
            for (long done = 0; done < total; ) {
                float[] a = array((int) Math.min(bucketElements, total - done));
                if (root) {
                    at.copy(a, true);
                }
                collective.broadcast(a, r);
                if (!root) {
                    at.copy(a, false);
                }
                done += a.length;
            }
        }
    }

    /** A position in a list of tensors that buckets are read from or written into, in order. */
    private static final class Cursor {
        private final List<NDArray> tensors;
        private int t;
        private long at;

        Cursor(List<NDArray> tensors) {
            this.tensors = tensors;
        }

        /** Fills {@code a} from the next elements ({@code out}) or writes {@code a} into them. */
        void copy(float[] a, boolean out) {
            for (int pos = 0; pos < a.length; ) {
                while (tensors.get(t).size() == at) {
                    t++;
                    at = 0;
                }
                FloatBuffer view = view(tensors.get(t));
                int len = (int) Math.min(a.length - pos, view.capacity() - at);
                if (out) {
                    view.get((int) at, a, pos, len);
                } else {
                    view.put((int) at, a, pos, len);
                }
                pos += len;
                at += len;
            }
        }
    }

    /**
     * A moment of shape {@code shape} owned by rank {@code owner}: on the writer its bytes arrive from
     * the owner in buckets as they are written (the owner and the other ranks {@link #serve} it).
     *
     * @param before runs once before the first bucket (a rendezvous of the writer with the servers)
     */
    TensorData remote(long[] shape, int owner, Runnable before) {
        return new TensorData() {
            @Override
            public HostTensor.Dtype dtype() {
                return HostTensor.Dtype.F32;
            }

            @Override
            public long[] shape() {
                return shape.clone();
            }

            @Override
            public void writeTo(OutputStream out) throws IOException {
                before.run();
                long size = byteSize() / Float.BYTES;
                byte[] bytes = null;
                for (long done = 0; done < size; ) {
                    float[] a = array((int) Math.min(bucketElements, size - done));
                    collective.broadcast(a, owner);
                    if (bytes == null || bytes.length != a.length * Float.BYTES) {
                        bytes = new byte[a.length * Float.BYTES];
                    }
                    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(a);
                    out.write(bytes);
                    done += a.length;
                }
            }
        };
    }

    /**
     * The non-writer's side of the stream of one moment (every rank but the writer calls it for every
     * moment the writer does not own, in the writer's order).
     *
     * @param moment this rank's tensor if it owns the moment, else null (the buckets pass through)
     */
    void serve(long size, int owner, NDArray moment) {
        for (long done = 0; done < size; ) {
            float[] a = array((int) Math.min(bucketElements, size - done));
            if (moment != null) {
                view(moment).get((int) done, a, 0, a.length);
            }
            collective.broadcast(a, owner);
            done += a.length;
        }
    }

    /**
     * Fails unless every tensor can be read and written in place (contiguous float32 on the CPU, under
     * 2^31 elements): checked when the step loop is made, not at the first step.
     */
    static void check(Iterable<NDArray> tensors) {
        for (NDArray t : tensors) {
            if (t.size() > 0) {
                view(t);
            }
        }
    }

    private float[] array(int n) {
        return arrays.computeIfAbsent(n, float[]::new);
    }

    private static FloatBuffer view(NDArray t) {
        FloatBuffer v = GradientReduction.view(t);
        if (v == null || t.size() > Integer.MAX_VALUE) {
            throw new IllegalStateException("train.shard_optimizer_state: needs contiguous float32 CPU tensors"
                    + " of at most 2^31 - 1 elements, got " + t.getDataType() + " " + t.getShape() + " on "
                    + t.getDevice());
        }
        return v;
    }
}
