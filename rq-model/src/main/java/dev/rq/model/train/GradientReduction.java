package dev.rq.model.train;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Switches;
import dev.rq.model.kernels.TensorLists;
import dev.rq.model.nn.Tensors;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The data-parallel gradient step shared by the stage-1 and stage-2 trainers: gradients of all
 * parameters (and a few loss statistics riding along) are summed over ranks with one
 * deterministic all-reduce of a flat buffer, in parameter order, and divided by the number of
 * micro-batches G, so every rank gets bit-identical global gradients.
 */
public final class GradientReduction {

    /** A/B switch ({@link Switches}): {@code -Drq.allreduce.views=false} copies every gradient as before session 11. */
    public static final String VIEWS = "rq.allreduce.views";

    private GradientReduction() {}

    /**
     * Reduces this rank's summed gradients to the global mean.
     *
     * @param local this rank's gradient sums by key (over its micro-batches)
     * @param stats this rank's statistics summed over its micro-batches; replaced by the global means
     * @param microBatches micro-batches per optimizer step over all ranks G (the divisor)
     * @return global mean gradients by key (arrays the caller's scope owns: on one rank new arrays, or with
     *     G = 1 the arrays of {@code local} themselves; on more ranks the arrays of {@code local},
     *     overwritten, where they are contiguous float32 CPU tensors)
     */
    public static Map<String, NDArray> reduce(Map<String, NDArray> local, float[] stats, int microBatches,
            Collective collective) {
        return reduce(local, stats, microBatches, collective, null);
    }

    /**
     * {@link #reduce(Map, float[], int, Collective)}, also timing the host copies (gradients into the
     * flat buffer and back into tensors) around the all-reduce.
     *
     * @param copyNanos if not null, {@code copyNanos[0]} is increased by the nanoseconds spent copying
     */
    public static Map<String, NDArray> reduce(Map<String, NDArray> local, float[] stats, int microBatches,
            Collective collective, long[] copyNanos) {
        return reduce(local, stats, microBatches, collective, copyNanos, null);
    }

    /**
     * {@link #reduce(Map, float[], int, Collective, long[])} with a reused host buffer. With more than
     * one rank the reduced gradients are written back into the arrays of {@code local} (contiguous
     * float32 CPU tensors; other arrays are copied) and scaled there: two host copies per element (into
     * the flat buffer, back into the tensor) besides the ring's own.
     *
     * @param buffer the flat buffer to reuse, or null for a new one
     */
    public static Map<String, NDArray> reduce(Map<String, NDArray> local, float[] stats, int microBatches,
            Collective collective, long[] copyNanos, Buffer buffer) {
        float scale = 1f / microBatches;
        Map<String, NDArray> grads = new LinkedHashMap<>();
        if (collective.worldSize() == 1) {
            for (Map.Entry<String, NDArray> e : local.entrySet()) {
                // G = 1: x·1 = x exactly, so the sums themselves (no copy of every gradient)
                grads.put(e.getKey(), microBatches == 1 ? e.getValue() : e.getValue().mul(scale));
            }
            for (int i = 0; i < stats.length; i++) {
                stats[i] *= scale;
            }
            return grads;
        }
        long t0 = System.nanoTime();
        long total = stats.length;
        for (NDArray g : local.values()) {
            total += g.size();
        }
        int size = Math.toIntExact(total);
        float[] flat = buffer == null || !Switches.on(VIEWS) ? new float[size] : buffer.get(size);
        int off = 0;
        for (NDArray g : local.values()) {
            off += read(g, flat, off);
        }
        System.arraycopy(stats, 0, flat, off, stats.length);
        long a = System.nanoTime();
        collective.allReduceSum(flat);
        long b = System.nanoTime();
        off = 0;
        for (Map.Entry<String, NDArray> e : local.entrySet()) {
            NDArray g = e.getValue();
            int n = Math.toIntExact(g.size());
            FloatBuffer view = view(g);
            if (view != null) { // the sum written back into this rank's own array, then scaled in place
                view.put(flat, off, n);
                // the same libtorch multiply as the one-rank path (in place), so N = 1 and N = 2 agree to the bit
                grads.put(e.getKey(), g.muli(scale));
            } else {
                float[] v = new float[n];
                System.arraycopy(flat, off, v, 0, n);
                grads.put(e.getKey(), Tensors.of(g.getManager(), v, g.getShape()).mul(scale));
            }
            off += n;
        }
        for (int i = 0; i < stats.length; i++) {
            stats[i] = flat[off + i] * scale;
        }
        if (copyNanos != null) {
            copyNanos[0] += (a - t0) + (System.nanoTime() - b);
        }
        return grads;
    }

    /** Copies {@code g}'s values into {@code flat} at {@code off} (one copy where its memory can be read in place). */
    private static int read(NDArray g, float[] flat, int off) {
        int n = Math.toIntExact(g.size());
        FloatBuffer view = view(g);
        if (view != null) {
            view.get(flat, off, n);
        } else {
            System.arraycopy(g.toFloatArray(), 0, flat, off, n);
        }
        return n;
    }

    /**
     * @return a view of the memory of a contiguous float32 CPU tensor of libtorch, read and written in
     *     place, or null where there is none (another type, device or layout: the caller copies)
     */
    static FloatBuffer view(NDArray g) {
        if (!Switches.on(VIEWS) || !(g instanceof PtNDArray pt) || g.getDataType() != DataType.FLOAT32
                || !g.getDevice().equals(Device.cpu()) || g.isSparse() || g.size() == 0 || !contiguous(pt)) {
            return null;
        }
        ByteBuffer bb = JniUtils.getByteBuffer(pt, true);
        if (!bb.isDirect() || bb.capacity() != g.size() * Float.BYTES) {
            return null; // a copy, not the tensor's memory
        }
        return bb.order(ByteOrder.nativeOrder()).asFloatBuffer();
    }

    private static final MethodHandle IS_CONTIGUOUS = isContiguousHandle();

    /** DJL 0.36 has no public {@code is_contiguous}: its JNI binding's, or null (then every tensor is copied). */
    private static MethodHandle isContiguousHandle() {
        try {
            Class<?> lib = Class.forName("ai.djl.pytorch.jni.PyTorchLibrary");
            java.lang.reflect.Field f = lib.getDeclaredField("LIB");
            f.setAccessible(true);
            java.lang.reflect.Method m = lib.getDeclaredMethod("torchIsContiguous", long.class);
            m.setAccessible(true);
            return MethodHandles.lookup().unreflect(m).bindTo(f.get(null));
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    /** @return whether {@code t}'s memory is dense in row-major order (false where that cannot be asked) */
    private static boolean contiguous(PtNDArray t) {
        if (IS_CONTIGUOUS == null) {
            return false;
        }
        try {
            return (boolean) IS_CONTIGUOUS.invoke((long) t.getHandle());
        } catch (Throwable e) {
            return false;
        }
    }

    /**
     * A host buffer for the flat all-reduce message, kept from step to step (one per {@link StepLoop},
     * used by one thread), so that a step does not allocate and zero a new one of the model's size.
     */
    public static final class Buffer {
        private float[] data;

        float[] get(int n) {
            if (data == null || data.length != n) {
                data = new float[n];
            }
            return data;
        }
    }

    /** @return the global L2 norm of all gradients */
    public static double globalNorm(Map<String, NDArray> grads) {
        double sq = 0;
        if (Adam.LISTS) { // the same float32 sums, one native call
            for (float s : TensorLists.squaredSums(new ArrayList<>(grads.values()))) {
                sq += s;
            }
            return Math.sqrt(sq);
        }
        for (NDArray g : grads.values()) {
            sq += g.square().sum().getFloat();
        }
        return Math.sqrt(sq);
    }

    /**
     * Scales gradients in place so their global norm is at most {@code maxNorm}, exactly as {@code
     * torch.nn.utils.clip_grad_norm_} (coefficient {@code maxNorm / (norm + 1e-6)}, only if below 1).
     */
    public static void clip(Map<String, NDArray> grads, double norm, double maxNorm) {
        if (maxNorm > 0) {
            double coef = maxNorm / (norm + 1e-6);
            if (coef < 1) {
                grads.values().forEach(g -> g.muli((float) coef));
            }
        }
    }
}
