package dev.rq.model.transformer;

import ai.djl.ndarray.NDArray;
import dev.rq.model.nn.Ops;
import dev.rq.model.nn.ParamStore;

/** {@code torch.nn.LayerNorm(D)} (eps 1e-5, affine) under {@code prefix.weight/.bias}. */
final class LayerNorm {

    static final float EPS = 1e-5f;

    private final ParamStore ps;
    private final String w;
    private final String b;

    LayerNorm(ParamStore ps, String prefix, int dim) {
        this.ps = ps;
        this.w = ps.declare(prefix + ".weight", new long[] {dim}, ParamStore.Init.ONES, 0, true);
        this.b = ps.declare(prefix + ".bias", new long[] {dim}, ParamStore.Init.ZEROS, 0, true);
    }

    NDArray forward(NDArray x) {
        return Ops.layerNorm(x, ps.get(w), ps.get(b), EPS);
    }
}
