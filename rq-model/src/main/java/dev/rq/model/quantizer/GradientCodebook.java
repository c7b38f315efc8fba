package dev.rq.model.quantizer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.distributed.Collective;
import dev.rq.model.kernels.Kernels;
import dev.rq.model.engine.NoGrad;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.nn.Tensors;
import dev.rq.model.util.Rng;
import java.util.ArrayList;
import java.util.List;

/**
 * A codebook trained by gradient (the VQ-VAE codebook loss, van den Oord et al. 2017, as in TIGER),
 * with code-usage counts that drive dead-code restarts.
 *
 * <p>Tensors under {@code <prefix>}: {@code weight} [K, C], trainable; {@code cluster_size_ema}
 * [K], a buffer: the moving average (decay γ) of each code's global assignments per training call.
 * A training call (one accumulation step: all its micro-batches on all ranks) first re-seeds the
 * codes whose usage is below 1 from this call's input vectors ({@link RestartPool}; weight rows
 * replaced in place, outside autograd, usage set to 1), then looks up the nearest codes of every
 * micro-batch and updates the usage with their all-reduced counts. Counts are integers, so
 * the all-reduce is exact and N ranks see what one rank sees.
 */
public final class GradientCodebook {

    private final ParamStore ps;
    private final String weightKey;
    private final String usageKey;
    private final int size;
    private final int dim;
    private final double decay;
    private final boolean restartUnused;
    private volatile double lastDeadFraction;

    GradientCodebook(ParamStore ps, String prefix, int size, int dim, double decay, boolean restart) {
        this.ps = ps;
        this.size = size;
        this.dim = dim;
        this.decay = decay;
        this.restartUnused = restart;
        this.weightKey = ps.declare(prefix + ".weight", new long[] {size, dim}, ParamStore.Init.NORMAL, 0, true);
        this.usageKey = ps.declare(prefix + ".cluster_size_ema", new long[] {size}, ParamStore.Init.ZEROS, 0, false);
    }

    /** @return K */
    public int size() {
        return size;
    }

    /** @return the weight [K, C] (trainable) */
    public NDArray weight() {
        return ps.get(weightKey);
    }

    /** @return the fraction of codes re-seeded (or due, with restarts off) at the last training call */
    public double lastDeadFraction() {
        return lastDeadFraction;
    }

    /**
     * Sets the codebook from fitted centroids (k-means initialisation).
     *
     * @param centroids [K, C] row-major
     * @param counts [K] expected assignments per training call (initial usage)
     */
    public void initFrom(float[] centroids, float[] counts) {
        if (centroids.length != size * dim || counts.length != size) {
            throw new IllegalArgumentException("centroids must be [" + size + ", " + dim + "] and counts [" + size
                    + "], got " + centroids.length + " and " + counts.length + " values");
        }
        NDManager m = ps.manager();
        try (NoGrad inPlace = NoGrad.enter(); // in place: an optimizer may already hold the weight
                NDArray c = Tensors.of(m, centroids, new Shape(size, dim)); NDArray n = Tensors.of(m, counts)) {
            ps.get(weightKey).set(new NDIndex(":"), c);
            ps.get(usageKey).set(new NDIndex(":"), n);
        }
    }

    /**
     * Nearest codes (first minimum), without gradient.
     *
     * @param x [N, C]
     * @return [N] int64
     */
    public NDArray nearest(NDArray x) {
        NDArray e = weight().stopGradient(); // [K, C]
        NDArray xsq = x.square().sum(new int[] {1}, true); // [N, 1]
        NDArray esq = e.square().sum(new int[] {1}).reshape(1, size); // [1, K]
        return Kernels.argminRows(xsq.add(esq).sub(x.matMul(e.transpose()).mul(2f))); // [N]
    }

    /**
     * Code vectors, differentiable with respect to the weight.
     *
     * @param idx [...] int64 in [0, K)
     * @return [..., C]
     */
    NDArray embed(NDArray idx) {
        Shape s = idx.getShape();
        NDArray flat = weight().get(new NDIndex("{}", idx.flatten())); // [N, C]
        return flat.reshape(s.addAll(new Shape(dim)));
    }

    /**
     * One lookup of several micro-batches; in training also restarts and one usage update with the
     * counts of all of them over all ranks (as one rank looking up their concatenation).
     *
     * @param xs per micro-batch [n_i, C] detached inputs, in global order
     * @return indices [n_i] per micro-batch and, in training, the global counts [K] of this call (else null)
     */
    Lookups lookup(List<NDArray> xs, boolean training, Collective collective, Rng rng) {
        if (training) {
            restartDead(xs, collective, rng);
        }
        List<NDArray> idx = new ArrayList<>(xs.size());
        float[] c = new float[size];
        for (NDArray x : xs) {
            NDArray i = nearest(x);
            idx.add(i);
            if (training) {
                float[] part = i.oneHot(size).sum(new int[] {0}).toFloatArray(); // [K] integers: sums are exact
                for (int k = 0; k < size; k++) {
                    c[k] += part[k];
                }
            }
        }
        NDArray counts = null;
        if (training) {
            if (collective.worldSize() > 1) {
                collective.allReduceSum(c);
            }
            counts = Tensors.of(xs.get(0).getManager(), c);
            NDArray usage = ps.get(usageKey);
            usage.muli((float) decay).addi(counts.mul((float) (1 - decay)));
        }
        return new Lookups(idx, counts);
    }

    /** The indices per micro-batch and the counts of a lookup. */
    record Lookups(List<NDArray> idx, NDArray counts) {}

    private void restartDead(List<NDArray> xs, Collective collective, Rng rng) {
        float[] usage = ps.get(usageKey).toFloatArray();
        int n = 0;
        for (float u : usage) {
            n += u < 1f ? 1 : 0;
        }
        lastDeadFraction = n / (double) size;
        if (!restartUnused || n == 0) {
            return;
        }
        int[] dead = new int[n];
        for (int k = 0, i = 0; k < size; k++) {
            if (usage[k] < 1f) {
                dead[i++] = k;
            }
        }
        NDArray x = xs.size() == 1 ? xs.get(0) : NDArrays.concat(new NDList(xs), 0); // this rank's vectors in order
        float[] rows = RestartPool.draw(x, size, dead, collective, rng);
        long[] where = new long[n];
        float[] ones = new float[n];
        for (int i = 0; i < n; i++) {
            where[i] = dead[i];
            ones[i] = 1f;
        }
        try (NoGrad inPlace = NoGrad.enter()) { // an in-place write to a trainable leaf must not be recorded
            NDManager m = x.getManager();
            NDArray at = Tensors.of(m, where);
            ps.get(weightKey).set(new NDIndex("{}", at), Tensors.of(m, rows, new Shape(n, dim)));
            ps.get(usageKey).set(new NDIndex("{}", at), Tensors.of(m, ones));
        }
    }
}
