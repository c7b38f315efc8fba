package dev.rq.model.sid;

import dev.rq.model.util.Rng;

/**
 * Synthetic item embeddings for tests and scale runs: a two-level Gaussian mixture, so that
 * semantic IDs have structure to find (items of one class share a coarse group, and classes of
 * one group lie near each other). Every value is a pure function of (seed, item index), so any
 * range of items can be generated anywhere (one Spark task per range) with the same result.
 *
 * <pre>
 * group g = class / classesPerGroup;  μ_g ~ N(0, I)        (seeded by g)
 * class c:  μ_c = μ_g + 0.5·ν_c,  ν_c ~ N(0, I)            (seeded by c)
 * item i:   class c = mix(i) mod classes;  x_i = μ_c + spread·ε_i,  ε_i ~ N(0, I), then L2-normalised
 * </pre>
 */
public final class SyntheticItems {

    private final long seed;
    private final int dim;
    private final int classes;
    private final int classesPerGroup;
    private final float spread;
    private final float[][] centres;

    /**
     * @param dim embedding dimension
     * @param classes number of mixture components (labels 0..classes−1)
     * @param classesPerGroup components per coarse group
     * @param spread standard deviation of an item around its class centre (per dimension)
     */
    public SyntheticItems(long seed, int dim, int classes, int classesPerGroup, double spread) {
        if (dim < 1 || classes < 1 || classesPerGroup < 1 || spread < 0) {
            throw new IllegalArgumentException("dim, classes and classesPerGroup must be positive, spread >= 0");
        }
        this.seed = seed;
        this.dim = dim;
        this.classes = classes;
        this.classesPerGroup = classesPerGroup;
        this.spread = (float) spread;
        this.centres = new float[classes][dim];
        int groups = (classes + classesPerGroup - 1) / classesPerGroup;
        float[][] groupCentres = new float[groups][dim];
        for (int g = 0; g < groups; g++) {
            Rng r = Rng.of(seed, 1, g);
            for (int j = 0; j < dim; j++) {
                groupCentres[g][j] = (float) r.nextGaussian();
            }
        }
        for (int c = 0; c < classes; c++) {
            Rng r = Rng.of(seed, 2, c);
            for (int j = 0; j < dim; j++) {
                centres[c][j] = groupCentres[c / classesPerGroup][j] + 0.5f * (float) r.nextGaussian();
            }
        }
    }

    /** @return the embedding dimension */
    public int dim() {
        return dim;
    }

    /** @return the class (mixture component) of item {@code i} */
    public int label(long i) {
        return (int) Long.remainderUnsigned(Rng.of(seed, 3, i).nextLong(), classes);
    }

    /** Writes item {@code i}'s L2-normalised embedding into {@code out[off, off + dim)}. */
    public void embedding(long i, float[] out, int off) {
        float[] mu = centres[label(i)];
        Rng r = Rng.of(seed, 4, i);
        double norm = 0;
        for (int j = 0; j < dim; j++) {
            float v = mu[j] + spread * (float) r.nextGaussian();
            out[off + j] = v;
            norm += (double) v * v;
        }
        float inv = (float) (1 / Math.max(Math.sqrt(norm), 1e-12));
        for (int j = 0; j < dim; j++) {
            out[off + j] *= inv;
        }
    }

    /** @return embeddings of items [from, from + n) as [n, dim] row-major */
    public float[] embeddings(long from, int n) {
        float[] out = new float[n * dim];
        for (int i = 0; i < n; i++) {
            embedding(from + i, out, i * dim);
        }
        return out;
    }
}
