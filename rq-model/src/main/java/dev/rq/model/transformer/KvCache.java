package dev.rq.model.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.IValue;
import dev.rq.model.kernels.Kernels;
import java.util.function.Supplier;

/**
 * Key/value cache of one attention stack for incremental decoding (official {@code
 * cached_forward}): per block the keys and values of every position fed so far, in buffers of a
 * fixed capacity [N, heads, capacity, hd] allocated on first use, so a step writes only its new
 * positions instead of copying the whole history. Keys are stored already multiplied by the
 * attention scale 1/√hd (an elementwise product, so the scores are bitwise those of scaling all
 * keys at every step, as the uncached forward does).
 *
 * <p>A cache is an inference context: while it is open the model's weights must not change. It
 * therefore also keeps each block's fused key/query/value projection (built on first use, kept
 * across {@link #reset}), so incremental steps do not re-concatenate the three weight matrices.
 * Tensors owned by the cache are unregistered from any {@link NDScope}, so a per-step scope does
 * not free them; {@link #close} does. {@link Kernels#cachedStackStep} (one native call per new
 * position and stack) reads the same buffers and weights as TorchScript lists kept here.
 */
public final class KvCache implements AutoCloseable {

    private final int capacity;
    private final NDArray[] keys;
    private final NDArray[] values;
    private final int[] length;
    private final NDList[] fused;
    private IValue stepWeights; // every block's weights as one TorchScript list (Kernels.cachedStackStep)
    private IValue stepKeys;
    private IValue stepValues;

    /**
     * @param layers blocks in the stack
     * @param capacity the most positions that will be fed between resets
     */
    public KvCache(int layers, int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be >= 1, got " + capacity);
        }
        this.capacity = capacity;
        this.keys = new NDArray[layers];
        this.values = new NDArray[layers];
        this.length = new int[layers];
        this.fused = new NDList[layers];
    }

    /** @return positions cached so far */
    public long length() {
        return length.length == 0 ? 0 : length[0];
    }

    /**
     * @return block {@code layer}'s fused projection (weight [3D, D] and bias [3D] or weight only),
     *     made by {@code make} on first use and owned by this cache from then on
     */
    NDList fusedProjection(int layer, Supplier<NDList> make) {
        if (fused[layer] == null) {
            NDList f = make.get();
            for (NDArray a : f) {
                NDScope.unregister(a);
            }
            fused[layer] = f;
        }
        return fused[layer];
    }

    /**
     * Appends new (scaled) keys and values of block {@code layer} and returns all of them.
     *
     * @param k [N, heads, L, hd] keys already multiplied by the attention scale
     * @param v [N, heads, L, hd]
     * @return views of the cached keys and values including the new ones, [N, heads, T+L, hd]
     */
    NDList append(int layer, NDArray k, NDArray v) {
        Shape s = k.getShape();
        int len = length[layer];
        int add = (int) s.get(2);
        if (len + add > capacity) {
            throw new IllegalStateException("cache capacity " + capacity + " exceeded: " + len + " + " + add);
        }
        if (keys[layer] == null) {
            Shape full = new Shape(s.get(0), s.get(1), capacity, s.get(3));
            keys[layer] = zeros(k, full);
            values[layer] = zeros(v, full);
            NDScope.unregister(keys[layer], values[layer]);
        }
        NDIndex slot = new NDIndex().addAllDim(2).addSliceDim(len, len + add);
        keys[layer].set(slot, k);
        values[layer].set(slot, v);
        length[layer] = len + add;
        NDIndex upTo = new NDIndex().addAllDim(2).addSliceDim(0, len + add);
        return new NDList(keys[layer].get(upTo), values[layer].get(upTo));
    }

    /**
     * @return the stack's weights as one TorchScript list for {@link Kernels#cachedStackStep}, made by
     *     {@code make} on first use and kept (as the fused projections: the weights do not change while a
     *     cache is open)
     */
    IValue stepWeights(Supplier<NDList> make) {
        if (stepWeights == null) {
            NDList l = make.get();
            PtNDArray[] a = new PtNDArray[l.size()];
            for (int i = 0; i < a.length; i++) {
                a[i] = (PtNDArray) l.get(i);
            }
            stepWeights = IValue.listFrom(a); // holds its own references to the tensors
        }
        return stepWeights;
    }

    /**
     * @param like a tensor of the compute dtype and manager for the buffers (asked only when needed)
     * @return the key and the value buffers of every block as two TorchScript lists, each buffer
     *     [n, heads, capacity, hd], allocated here if {@link #append} has not done so
     */
    IValue[] stepBuffers(long n, int heads, int hd, Supplier<NDArray> like) {
        if (stepKeys == null) {
            PtNDArray[] k = new PtNDArray[keys.length];
            PtNDArray[] v = new PtNDArray[keys.length];
            for (int i = 0; i < keys.length; i++) {
                if (keys[i] == null) {
                    Shape full = new Shape(n, heads, capacity, hd);
                    keys[i] = zeros(like.get(), full);
                    values[i] = zeros(like.get(), full);
                    NDScope.unregister(keys[i], values[i]);
                }
                k[i] = (PtNDArray) keys[i];
                v[i] = (PtNDArray) values[i];
            }
            stepKeys = IValue.listFrom(k);
            stepValues = IValue.listFrom(v);
        }
        return new IValue[] {stepKeys, stepValues};
    }

    /** @return whether a one-call step ({@link Kernels#cachedStackStep}) has run on this cache */
    boolean steppedInOneCall() {
        return stepWeights != null;
    }

    /**
     * Records one new position in every block (written by {@link Kernels#cachedStackStep}).
     *
     * @return the position it was written at
     */
    int advance() {
        int len = length.length == 0 ? 0 : length[0];
        if (len + 1 > capacity) {
            throw new IllegalStateException("cache capacity " + capacity + " exceeded: " + len + " + 1");
        }
        java.util.Arrays.fill(length, len + 1);
        return len;
    }

    /** @return zeros of {@code shape} in {@code like}'s dtype (float32 or bfloat16) */
    private static NDArray zeros(NDArray like, Shape shape) {
        NDArray z = like.getManager().zeros(shape);
        return Kernels.isBf16(like) ? Kernels.toBf16(z) : z;
    }

    /** Empties the cache (the buffers are kept for reuse). */
    public void reset() {
        java.util.Arrays.fill(length, 0);
    }

    @Override
    public void close() {
        reset();
        for (IValue v : new IValue[] {stepWeights, stepKeys, stepValues}) {
            if (v != null) {
                v.close();
            }
        }
        stepWeights = null;
        stepKeys = null;
        stepValues = null;
        for (int i = 0; i < keys.length; i++) {
            if (keys[i] != null) {
                keys[i].close();
                values[i].close();
                keys[i] = null;
                values[i] = null;
            }
            if (fused[i] != null) {
                fused[i].close();
                fused[i] = null;
            }
        }
    }
}
