package dev.rq.model.nn;

import ai.djl.ndarray.NDArray;
import dev.rq.model.kernels.Kernels;

/** Nearest-neighbour ×2 upsampling followed by a 3×3 convolution (official VAE). */
public final class Upsample {

    private final Conv2d conv;

    public Upsample(ParamStore ps, String prefix, int channels) {
        this.conv = new Conv2d(ps, prefix + ".conv", channels, channels, 3, 1, 1);
    }

    /** x: [B, C, H, W] → [B, C, 2H, 2W]. */
    public NDArray forward(NDArray x) {
        // nearest: each pixel becomes a 2×2 block (one kernel; two repeats in float32 by default)
        return conv.forward(Kernels.fused(x) ? Kernels.upsampleNearest2x(x) : x.repeat(2, 2).repeat(3, 2));
    }
}
