package dev.rq.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.engine.Switches;
import dev.rq.model.kernels.Kernels;

/** Nearest-neighbour ×2 upsampling followed by a 3×3 convolution (official VAE). */
public final class Upsample {

    private final ParamStore ps;
    private final Conv2d conv;
    private final int channels;

    public Upsample(ParamStore ps, String prefix, int channels) {
        this.ps = ps;
        this.conv = new Conv2d(ps, prefix + ".conv", channels, channels, 3, 1, 1);
        this.channels = channels;
    }

    /** x: [B, C, H, W] → [B, C, 2H, 2W]. */
    public NDArray forward(NDArray x) {
        if (transposed(x)) {
            NDArray h = ps.toCompute(x);
            return Kernels.upsampleNearestConv3x3(h, conv.weightForKernel(), conv.biasForKernel());
        }
        // nearest: each pixel becomes a 2×2 block (one kernel; two repeats in float32 by default)
        return conv.forward(Kernels.fused(x) ? Kernels.upsampleNearest2x(x) : x.repeat(2, 2).repeat(3, 2));
    }

    /**
     * Whether this call computes upsampling and convolution as one transposed convolution ({@link
     * Kernels#upsampleNearestConv3x3}: 2.2–2.5× less work for the block, forward and backward): under
     * autograd (training passes) with the fused kernels, unless {@code -Drq.vae.upsample_transposed=false}
     * (read at each call, for in-process A/Bs), and only for channel counts that are multiples of 16 (the
     * rule under which libtorch's backward is right, {@link Ops#conv2d}; always so in the VAE, whose GroupNorm
     * needs multiples of 32). Inference passes keep the explicit upsampling and convolution.
     */
    boolean transposed(NDArray x) {
        return channels % Ops.CONV_OUT_BLOCK == 0 && JniUtils.isGradMode() && Kernels.fused(x)
                && Switches.on("rq.vae.upsample_transposed");
    }
}
