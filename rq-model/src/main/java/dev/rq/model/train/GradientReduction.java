package dev.rq.model.train;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Switches;
import dev.rq.model.kernels.TensorLists;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The data-parallel gradient step shared by the stage-1 and stage-2 trainers: gradients of all
 * parameters (and a few loss statistics riding along) are summed over ranks with a deterministic
 * all-reduce in parameter order, and divided by the number of micro-batches G, so every rank gets
 * bit-identical global gradients.
 *
 * <h2>Buckets</h2>
 * The gradients and statistics form one virtual vector V of T elements (parameter order, then the
 * statistics; T is a long: any model size). A ring all-reduce of V would sum element i in the order
 * of the ring segment s that holds it, {@code [s*T/N, (s+1)*T/N)} (N ranks, see the ring's Javadoc:
 * segment s is summed as the left fold starting at rank s+1 and ending at rank s). V is never copied
 * whole: it is reduced in buckets of at most B elements (B = {@code train.allreduce_bucket_mb} / 4
 * bytes), one {@link Collective#allReduceSum(float[])} call each, through a host array of at most B
 * elements. Bucket k is the k-th slice of every segment: with {@code b = max(1, B / N)} elements per
 * segment and bucket, it is the concatenation over s of {@code [start(s) + k*b, min(start(s) + (k+1)*b,
 * start(s+1)))}. Every bucket but the last holds N slices of b elements, so the ring cuts it into
 * exactly those slices; the last holds the N remainders, whose lengths differ from segment to segment
 * exactly as {@code [s*M/N, (s+1)*M/N)} does for its length M (both depend only on T mod N = M mod N).
 * Hence every element is summed in the same order as in one all-reduce of V: <b>the result does not
 * depend on the bucket size, for any N</b> (bit for bit; GradientReductionTest, with a ring-order
 * collective and with the TCP ring). A model with T &le; N*b is one bucket, i.e. exactly the
 * unbucketed call. A parameter larger than a bucket spans several buckets; host memory per rank is
 * O(B), never O(T), and no index exceeds an int except the long offsets in V.
 *
 * <p>Gradients are read from and the sums written back into libtorch's memory in place where the
 * tensor is a contiguous float32 CPU tensor (views, session 11); others are first copied into such a
 * tensor in libtorch (the copy is then the result). Afterwards every tensor is scaled by 1/G with the
 * same libtorch multiply as the one-rank path, so N = 1 and N = 2 agree to the bit.
 */
public final class GradientReduction {

    /**
     * A/B switch ({@link Switches}): {@code -Drq.allreduce.views=false} reads and writes every
     * gradient through a libtorch copy instead of in place (the host copies of the buckets are the same).
     */
    public static final String VIEWS = "rq.allreduce.views";

    /** The default bucket: 25 MB of float32 (PyTorch DDP's {@code bucket_cap_mb} default). */
    public static final long DEFAULT_BUCKET_ELEMENTS = bucketElements(25);

    /** Largest piece of a tensor read through one view: a {@link FloatBuffer} is indexed by int. */
    static long maxViewElements = Integer.MAX_VALUE / Float.BYTES;

    private GradientReduction() {}

    /** @return float32 elements in a bucket of {@code mb} MB (10^6 bytes), at least 1 */
    public static long bucketElements(double mb) {
        return Math.max(1, (long) (mb * 1e6 / Float.BYTES));
    }

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
     * bucket buffers and back into tensors) around the all-reduce calls.
     *
     * @param copyNanos if not null, {@code copyNanos[0]} is increased by the nanoseconds spent copying
     */
    public static Map<String, NDArray> reduce(Map<String, NDArray> local, float[] stats, int microBatches,
            Collective collective, long[] copyNanos) {
        return reduce(local, stats, microBatches, collective, copyNanos, null);
    }

    /**
     * {@link #reduce(Map, float[], int, Collective, long[])} with reused bucket buffers of a configured
     * size. With more than one rank the reduced gradients are written back into the arrays of {@code
     * local} (contiguous float32 CPU tensors; others are copied) and scaled there: two host copies per
     * element (into a bucket, back into the tensor) besides the ring's own.
     *
     * @param buffer the bucket size and its reused host arrays, or null for the default size and new arrays
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
        Buffer buf = buffer == null ? new Buffer(DEFAULT_BUCKET_ELEMENTS) : buffer;
        long t0 = System.nanoTime();
        Vector v = new Vector(local, stats);
        long copies = System.nanoTime() - t0;
        int n = collective.worldSize();
        long b = Math.max(1, buf.bucketElements / n); // elements per segment and bucket
        long buckets = v.total / n / b + 1;
        buf.waitNanos = 0;
        for (long k = 0; k < buckets; k++) {
            long c = System.nanoTime();
            long m = 0;
            for (int s = 0; s < n; s++) {
                long[] sl = slice(v.total, n, s, k, b);
                m += sl[1] - sl[0];
            }
            if (m == 0) {
                continue; // T mod N = 0 and b divides T / N: the last bucket is empty
            }
            float[] flat = buf.get(Math.toIntExact(m)); // m <= n * b <= the bucket size
            int pos = 0;
            for (int s = 0; s < n; s++) {
                long[] sl = slice(v.total, n, s, k, b);
                pos += v.copy(sl[0], sl[1], flat, pos, true);
            }
            long a = System.nanoTime();
            collective.allReduceSum(flat);
            long d = System.nanoTime();
            if (k == 0) {
                buf.waitNanos = collective.lastAllReduceWaitNanos(); // waiting for the slowest rank
            }
            pos = 0;
            for (int s = 0; s < n; s++) {
                long[] sl = slice(v.total, n, s, k, b);
                pos += v.copy(sl[0], sl[1], flat, pos, false);
            }
            copies += (a - c) + (System.nanoTime() - d);
        }
        long e0 = System.nanoTime();
        int i = 0;
        for (Map.Entry<String, NDArray> e : local.entrySet()) {
            // the same libtorch multiply as the one-rank path (in place), so N = 1 and N = 2 agree to the bit
            NDArray r = v.results.get(i++).muli(scale);
            Device device = e.getValue().getDevice();
            grads.put(e.getKey(), r.getDevice().equals(device) ? r : r.toDevice(device, false));
        }
        for (int j = 0; j < stats.length; j++) {
            stats[j] = v.stats[j] * scale;
        }
        copies += System.nanoTime() - e0;
        if (copyNanos != null) {
            copyNanos[0] += copies;
        }
        return grads;
    }

    /**
     * @return {@code [from, to)} in V of bucket {@code k}'s slice of ring segment {@code s} (T elements,
     *     N segments, b elements per segment and bucket); empty ({@code from == to}) past the segment
     */
    static long[] slice(long total, int n, int s, long k, long b) {
        long start = segStart(total, n, s);
        long end = segStart(total, n, s + 1);
        long from = Math.min(end, start + k * b);
        return new long[] {from, Math.min(end, from + b)};
    }

    /** @return the ring's segment boundary {@code s*T/N} without overflow ({@code T = qN + r}) */
    static long segStart(long total, int n, int s) {
        long q = total / n;
        long r = total % n;
        return q * s + r * s / n;
    }

    /**
     * V: the gradients in parameter order, then the statistics, as pieces of host-addressable memory
     * (tensor views of at most {@link #maxViewElements} elements, and the statistics array).
     */
    private static final class Vector {
        final List<NDArray> results = new ArrayList<>(); // per key: the tensor that receives the sum
        final List<FloatBuffer> pieces = new ArrayList<>();
        final List<Long> starts = new ArrayList<>(); // offset of every piece in V, ascending
        final float[] stats;
        final long statsStart;
        final long total;

        Vector(Map<String, NDArray> local, float[] stats) {
            long off = 0;
            for (NDArray g : local.values()) {
                NDArray host = Switches.on(VIEWS) && view(g) != null ? g : staged(g);
                results.add(host);
                long size = host.size();
                if (size <= maxViewElements) {
                    if (size > 0) {
                        pieces.add(requireView(host));
                        starts.add(off);
                    }
                } else {
                    NDArray flat = host.reshape(-1); // a view of the contiguous tensor
                    for (long p = 0; p < size; p += maxViewElements) {
                        NDArray part = flat.get(new NDIndex("{}:{}", p, Math.min(size, p + maxViewElements)));
                        pieces.add(requireView(part));
                        starts.add(off + p);
                    }
                }
                off += size;
            }
            this.stats = stats.clone();
            this.statsStart = off;
            this.total = off + stats.length;
        }

        /**
         * Copies V's {@code [from, to)} into {@code flat} at {@code pos} ({@code in}) or back.
         *
         * @return the number of elements copied
         */
        int copy(long from, long to, float[] flat, int pos, boolean in) {
            int done = 0;
            long at = from;
            int p = Collections.binarySearch(starts, at);
            p = p >= 0 ? p : -p - 2;
            while (at < to && at < statsStart) {
                long start = starts.get(p);
                FloatBuffer view = pieces.get(p);
                long end = start + view.capacity();
                if (at >= end) {
                    p++;
                    continue;
                }
                int len = (int) (Math.min(to, end) - at);
                if (in) {
                    view.get((int) (at - start), flat, pos + done, len);
                } else {
                    view.put((int) (at - start), flat, pos + done, len);
                }
                done += len;
                at += len;
                p++;
            }
            if (at < to) { // the statistics
                int len = (int) (to - at);
                if (in) {
                    System.arraycopy(stats, (int) (at - statsStart), flat, pos + done, len);
                } else {
                    System.arraycopy(flat, pos + done, stats, (int) (at - statsStart), len);
                }
                done += len;
            }
            return done;
        }
    }

    /** @return a contiguous float32 CPU copy of {@code g} in libtorch, of {@code g}'s shape */
    private static NDArray staged(NDArray g) {
        NDArray c = g.getDevice().equals(Device.cpu()) ? g.toType(DataType.FLOAT32, true)
                : g.toDevice(Device.cpu(), true).toType(DataType.FLOAT32, false);
        return c instanceof PtNDArray pt && contiguous(pt) ? c : c.reshape(-1).reshape(g.getShape());
    }

    private static FloatBuffer requireView(NDArray g) {
        FloatBuffer v = view(g);
        if (v == null) {
            throw new IllegalStateException("GradientReduction: no in-place view of a contiguous float32 CPU tensor"
                    + " of shape " + g.getShape() + " (DJL without torchIsContiguous?)");
        }
        return v;
    }

    /**
     * @return a view of the memory of a contiguous float32 CPU tensor of libtorch, read and written in
     *     place, or null where there is none (another type, device or layout: the caller copies)
     */
    static FloatBuffer view(NDArray g) {
        if (!(g instanceof PtNDArray pt) || g.getDataType() != DataType.FLOAT32
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
    static boolean contiguous(NDArray t) {
        return t instanceof PtNDArray pt && contiguous(pt);
    }

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
     * The bucket size and the host arrays of the buckets, kept from step to step (one per {@link
     * StepLoop}, used by one thread), so that a step does not allocate and zero new ones: at most two
     * arrays (a full bucket and the last, shorter one), each of at most the bucket size.
     */
    public static final class Buffer {
        private final long bucketElements;
        private float[] full;
        private float[] last;
        private long waitNanos;

        /** A buffer for buckets of {@link #DEFAULT_BUCKET_ELEMENTS}. */
        public Buffer() {
            this(DEFAULT_BUCKET_ELEMENTS);
        }

        /** @param bucketElements float32 elements per bucket B (at least 1) */
        public Buffer(long bucketElements) {
            if (bucketElements < 1) {
                throw new IllegalArgumentException("bucket of " + bucketElements + " elements");
            }
            this.bucketElements = bucketElements;
        }

        /** @return float32 elements per bucket B */
        public long bucketElements() {
            return bucketElements;
        }

        /**
         * @return how long the first bucket's all-reduce of the last {@link #reduce} waited for the other
         *     ranks ({@link Collective#lastAllReduceWaitNanos}): the later buckets find them there
         */
        public long waitNanos() {
            return waitNanos;
        }

        float[] get(int n) {
            if (full != null && full.length == n) {
                return full;
            }
            if (last != null && last.length == n) {
                return last;
            }
            float[] a = new float[n];
            if (full == null || n > full.length) {
                full = a;
            } else {
                last = a;
            }
            return a;
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
