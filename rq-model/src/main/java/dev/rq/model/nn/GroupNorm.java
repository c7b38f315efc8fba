package dev.rq.model.nn;

import ai.djl.ndarray.NDArray;
import dev.rq.model.kernels.Kernels;

/** {@code Normalize(C)} of the official VAE: GroupNorm(32 groups, eps 1e-6, affine). */
public final class GroupNorm {

    static final int GROUPS = 32;
    static final float EPS = 1e-6f;

    private final ParamStore ps;
    private final String w;
    private final String b;
    private boolean float32;

    public GroupNorm(ParamStore ps, String prefix, int channels) {
        if (channels % GROUPS != 0) {
            throw new IllegalArgumentException(prefix + ": " + channels + " channels not divisible by 32 groups");
        }
        this.ps = ps;
        this.w = ps.declare(prefix + ".weight", new long[] {channels}, ParamStore.Init.ONES, 0, true);
        this.b = ps.declare(prefix + ".bias", new long[] {channels}, ParamStore.Init.ZEROS, 0, true);
    }

    /**
     * Keeps this layer in float32 when the model computes in bfloat16: a bfloat16 input is cast up
     * and the output is float32 (as {@code torch.autocast} runs {@code group_norm}).
     *
     * @return this
     */
    public GroupNorm keepFloat32() {
        float32 = true;
        return this;
    }

    /** x: [B, C, H, W] → [B, C, H, W] (x's dtype and memory format; float32 statistics). */
    public NDArray forward(NDArray x) {
        if (float32 && Kernels.isBf16(x)) {
            return Kernels.groupNorm(Kernels.toFloat32(x), GROUPS, ps.get(w), ps.get(b), EPS);
        }
        return Ops.groupNorm(x, GROUPS, ps.get(w), ps.get(b), EPS);
    }

    /** @return the affine weight [C] (float32), for a fused block kernel */
    NDArray weight() {
        return ps.get(w);
    }

    /** @return the affine bias [C] (float32), for a fused block kernel */
    NDArray bias() {
        return ps.get(b);
    }

    /** swish(forward(x)) in one call: the pre-activation of the VAE's convolutions. */
    public NDArray forwardSwish(NDArray x) {
        if (float32 && Kernels.isBf16(x)) {
            return Kernels.groupNormSilu(Kernels.toFloat32(x), GROUPS, ps.get(w), ps.get(b), EPS);
        }
        return Kernels.fused(x) ? Kernels.groupNormSilu(x, GROUPS, ps.get(w), ps.get(b), EPS) : Ops.swish(forward(x));
    }
}
