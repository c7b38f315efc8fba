package dev.rq.model.nn;

import ai.djl.ndarray.NDArray;

/**
 * {@code torch.nn.LayerNorm(D)} (eps 1e-5, affine) under {@code prefix.weight/.bias}; not
 * weight-decayed.
 */
public final class LayerNorm {

    public static final float EPS = 1e-5f;

    private final ParamStore ps;
    private final String w;
    private final String b;

    public LayerNorm(ParamStore ps, String prefix, int dim) {
        this.ps = ps;
        this.w = ps.declare(prefix + ".weight", new long[] {dim}, ParamStore.Init.ONES, 0, true, false);
        this.b = ps.declare(prefix + ".bias", new long[] {dim}, ParamStore.Init.ZEROS, 0, true, false);
    }

    /** @return the scale γ [D] (float32) */
    public NDArray weight() {
        return ps.get(w);
    }

    /** @return the shift β [D] (float32) */
    public NDArray bias() {
        return ps.get(b);
    }

    /** x [..., D] → [..., D]. */
    public NDArray forward(NDArray x) {
        return Ops.layerNorm(x, ps.get(w), ps.get(b), EPS);
    }
}
