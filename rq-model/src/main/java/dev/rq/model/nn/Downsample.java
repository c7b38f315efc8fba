package dev.rq.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/**
 * Stride-2 downsampling of the official VAE: pad one zero column on the right and one zero row at
 * the bottom (asymmetric), then a 3×3 stride-2 convolution without padding.
 */
public final class Downsample {

    private static final Shape PAD_RIGHT_BOTTOM = new Shape(0, 1, 0, 1);
    private final Conv2d conv;

    public Downsample(ParamStore ps, String prefix, int channels) {
        this.conv = new Conv2d(ps, prefix + ".conv", channels, channels, 3, 2, 0);
    }

    /** x: [B, C, H, W] → [B, C, H/2, W/2]. */
    public NDArray forward(NDArray x) {
        return conv.forward(x.pad(PAD_RIGHT_BOTTOM, 0)); // [B, C, H+1, W+1] → [B, C, H/2, W/2]
    }
}
