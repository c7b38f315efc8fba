package dev.rq.model.nn;

import ai.djl.ndarray.NDArray;

/** {@code nn.Conv2d(in, out, k, stride, padding)} with bias; keys {@code <prefix>.weight/.bias}. */
public final class Conv2d {

    private final ParamStore ps;
    private final String w;
    private final String b;
    private final int stride;
    private final int pad;

    public Conv2d(ParamStore ps, String prefix, int in, int out, int k, int stride, int pad) {
        this.ps = ps;
        long fanIn = (long) in * k * k;
        this.w = ps.declare(prefix + ".weight", new long[] {out, in, k, k}, ParamStore.Init.FAN_IN_UNIFORM, fanIn, true);
        this.b = ps.declare(prefix + ".bias", new long[] {out}, ParamStore.Init.FAN_IN_UNIFORM, fanIn, true);
        this.stride = stride;
        this.pad = pad;
    }

    /**
     * x: [B, in, H, W] → [B, out, H', W'] in the compute precision, in x's memory format (NCHW or
     * channels-last).
     */
    public NDArray forward(NDArray x) {
        return Ops.conv2d(ps.toCompute(x), ps.compute(w), ps.compute(b), stride, pad);
    }
}
