package dev.rq.model.train;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Switches;
import dev.rq.model.nn.Tensors;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.TensorData;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
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
 * Collective#broadcast} each (root r), read from and written into the tensors' memory in place (a
 * contiguous float32 CPU tensor) or through staged libtorch copies of the bucket's pieces (any other
 * float32 tensor: a GPU, a non-contiguous layout; see {@link Access}). A
 * broadcast copies bits, so every rank ends with the owner's weights: the same bits as the unsharded
 * step, where every rank ran the same update on the same all-reduced gradient.
 *
 * <h2>Checkpoint stream</h2>
 * The writer (rank 0) writes the unsharded file: a moment it does not own is a {@link TensorData} that
 * receives the tensor from its owner in buckets, written as they arrive; the other ranks {@link #serve}
 * the same sequence of broadcasts at the same time. Host memory is one bucket on every rank.
 */
public final class OptimizerShards {

    /**
     * A/B and test switch ({@link Switches}): {@code -Drq.shards.views=false} reads and writes every tensor
     * through the staged libtorch copies of the GPU path (see {@link Access}) instead of in place.
     */
    public static final String VIEWS = "rq.shards.views";

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
     * @param tensors float32 tensors in parameter order (the same list on every rank; any device and layout)
     * @param owner owning rank of each tensor
     */
    public void sync(List<NDArray> tensors, int[] owner) {
        boolean grad = JniUtils.isGradMode(); // staged writes into parameters that require grad: not recorded
        JniUtils.setGradMode(false);
        try {
            syncNoGrad(tensors, owner);
        } finally {
            JniUtils.setGradMode(grad);
        }
    }

    private void syncNoGrad(List<NDArray> tensors, int[] owner) {
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
        private Access open;

        Cursor(List<NDArray> tensors) {
            this.tensors = tensors;
        }

        /** Fills {@code a} from the next elements ({@code out}) or writes {@code a} into them. */
        void copy(float[] a, boolean out) {
            for (int pos = 0; pos < a.length; ) {
                while (tensors.get(t).size() == at) {
                    finish();
                    t++;
                    at = 0;
                }
                if (open == null) {
                    open = new Access(tensors.get(t));
                }
                int len = (int) Math.min(a.length - pos, tensors.get(t).size() - at);
                open.copy(at, a, pos, len, out);
                pos += len;
                at += len;
            }
            if (at == tensors.get(t).size()) {
                finish(); // the tensor's last element: a staged copy goes back now, not at the next bucket
            }
        }

        private void finish() {
            if (open != null) {
                open.close();
                open = null;
            }
        }
    }

    /**
     * One float32 tensor's elements by flat (row-major) index: in place through a view where it is a
     * contiguous CPU tensor of at most {@link GradientReduction#maxViewElements}; otherwise (a GPU, a
     * non-contiguous layout such as a transpose, a larger tensor, or {@link #VIEWS} off) staged as the
     * gradient all-reduce does, through libtorch copies: each piece of a bucket is copied to a contiguous
     * CPU float32 tensor of the piece's length and read, or written into one and copied into the tensor
     * on its device. A non-contiguous tensor is read and written through a contiguous flat copy on its
     * device, copied back into the tensor (in place) when {@link #close closed} after writes. Host memory:
     * one bucket.
     */
    private static final class Access implements AutoCloseable {
        private final NDArray tensor;
        private final FloatBuffer view;
        /** Staged: the tensor as a 1-D tensor on its device (a view if contiguous, else a copy). */
        private NDArray flat;
        private boolean copy;
        private boolean written;

        Access(NDArray tensor) {
            this.tensor = tensor;
            FloatBuffer v = Switches.on(VIEWS) && tensor.size() <= GradientReduction.maxViewElements
                    ? GradientReduction.view(tensor) : null;
            this.view = v;
            if (v == null) {
                copy = !GradientReduction.contiguous(tensor);
                flat = copy ? tensor.flatten() : tensor.reshape(-1);
            }
        }

        void copy(long at, float[] a, int pos, int len, boolean out) {
            if (view != null) {
                if (out) {
                    view.get((int) at, a, pos, len);
                } else {
                    view.put((int) at, a, pos, len);
                }
                return;
            }
            NDIndex piece = new NDIndex("{}:{}", at, at + len);
            if (out) {
                try (NDArray p = flat.get(piece); NDArray host = p.toDevice(Device.cpu(), true)) {
                    FloatBuffer v = GradientReduction.view(host);
                    if (v == null) {
                        throw new IllegalStateException("no contiguous float32 CPU copy of " + tensor.getShape());
                    }
                    v.get(0, a, pos, len);
                }
            } else {
                try (NDArray host = Tensors.of(tensor.getManager(), Arrays.copyOfRange(a, pos, pos + len));
                        NDArray d = host.toDevice(tensor.getDevice(), true)) {
                    flat.set(piece, d);
                }
                written = true;
            }
        }

        @Override
        public void close() {
            if (copy && written) {
                try (NDArray back = flat.reshape(tensor.getShape())) {
                    tensor.set(new NDIndex(":"), back); // in place: the parameter keeps its memory and layout
                }
            }
            if (flat != null) {
                flat.close();
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
        Cursor at = moment == null ? null : new Cursor(List.of(moment));
        boolean grad = JniUtils.isGradMode();
        JniUtils.setGradMode(false);
        try {
            for (long done = 0; done < size; ) {
                float[] a = array((int) Math.min(bucketElements, size - done));
                if (moment != null) {
                    at.copy(a, true);
                }
                collective.broadcast(a, owner);
                done += a.length;
            }
        } finally {
            JniUtils.setGradMode(grad);
        }
    }

    /**
     * Fails unless every tensor is float32 (the buckets carry float32 bits; the tensors may live on any
     * device, in any layout, of any size): checked when the step loop is made, not at the first step.
     */
    static void check(Iterable<NDArray> tensors) {
        for (NDArray t : tensors) {
            if (t.getDataType() != DataType.FLOAT32) {
                throw new IllegalStateException("train.shard_optimizer_state: needs float32 parameters, got "
                        + t.getDataType() + " " + t.getShape() + " on " + t.getDevice());
            }
        }
    }

    private float[] array(int n) {
        return arrays.computeIfAbsent(n, float[]::new);
    }

}
