package dev.rq.model.nn;

import ai.djl.ndarray.NDArray;
import dev.rq.model.engine.Precision;
import dev.rq.model.kernels.Kernels;

/** {@code nn.Conv2d(in, out, k, stride, padding)} with bias; keys {@code <prefix>.weight/.bias}. */
public final class Conv2d {

    private final ParamStore ps;
    private final String w;
    private final String b;
    private final int stride;
    private final int pad;
    private boolean float32;

    public Conv2d(ParamStore ps, String prefix, int in, int out, int k, int stride, int pad) {
        this.ps = ps;
        long fanIn = (long) in * k * k;
        this.w = ps.declare(prefix + ".weight", new long[] {out, in, k, k}, ParamStore.Init.FAN_IN_UNIFORM, fanIn, true);
        this.b = ps.declare(prefix + ".bias", new long[] {out}, ParamStore.Init.FAN_IN_UNIFORM, fanIn, true);
        this.stride = stride;
        this.pad = pad;
    }

    /**
     * Keeps this layer in float32 when the model computes in bfloat16 (see {@link #forward}); for the
     * layers whose precision decides the result: the image input, the quantizer's neighbours, the
     * reconstruction.
     *
     * @return this
     */
    public Conv2d keepFloat32() {
        float32 = true;
        return this;
    }

    /** @return the weight for a kernel that casts it to the compute precision ({@link ParamStore#computeOrStored}) */
    NDArray weightForKernel() {
        return ps.computeOrStored(w);
    }

    /** @return the bias for a kernel that casts it to the compute precision ({@link ParamStore#computeOrStored}) */
    NDArray biasForKernel() {
        return ps.computeOrStored(b);
    }

    /**
     * x: [B, in, H, W] → [B, out, H', W'] in the compute precision, in x's memory format (NCHW or
     * channels-last). A {@link #keepFloat32} layer computes in float32 (weights, input and output)
     * whatever the precision.
     */
    public NDArray forward(NDArray x) {
        if (float32 && ps.precision() == Precision.BF16) {
            return Ops.conv2d(Kernels.toFloat32(x), ps.get(w), ps.get(b), stride, pad);
        }
        return Ops.conv2d(ps.toCompute(x), ps.compute(w), ps.compute(b), stride, pad);
    }
}
