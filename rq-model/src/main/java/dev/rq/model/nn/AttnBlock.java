package dev.rq.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.kernels.Kernels;

/**
 * Single-head spatial self-attention of the official VAE: {@code x + proj_out(softmax(q kᵀ /
 * √C) v)} over all H·W positions, with q, k, v and proj_out 1×1 convolutions of a GroupNorm'd
 * input.
 */
public final class AttnBlock {

    private final GroupNorm norm;
    private final Conv2d q;
    private final Conv2d k;
    private final Conv2d v;
    private final Conv2d projOut;
    private final int channels;

    public AttnBlock(ParamStore ps, String prefix, int channels) {
        this.norm = new GroupNorm(ps, prefix + ".norm", channels);
        this.q = new Conv2d(ps, prefix + ".q", channels, channels, 1, 1, 0);
        this.k = new Conv2d(ps, prefix + ".k", channels, channels, 1, 1, 0);
        this.v = new Conv2d(ps, prefix + ".v", channels, channels, 1, 1, 0);
        this.projOut = new Conv2d(ps, prefix + ".proj_out", channels, channels, 1, 1, 0);
        this.channels = channels;
    }

    /** x: [B, C, H, W] → [B, C, H, W]. */
    public NDArray forward(NDArray x) {
        long b = x.getShape().get(0);
        long h = x.getShape().get(2);
        long w = x.getShape().get(3);
        NDArray hn = norm.forward(x);
        if (!Kernels.fused(hn)) { // float32 by default (-Drq.kernels.fp32 off): the explicit form
            NDArray qq = q.forward(hn).reshape(b, channels, h * w).transpose(0, 2, 1); // [B, HW, C]
            NDArray kk = k.forward(hn).reshape(b, channels, h * w); // [B, C, HW]
            NDArray att = Ops.scale(qq.matMul(kk), (float) Math.pow(channels, -0.5)); // [B, HW(q), HW(k)]
            att = att.softmax(2);
            NDArray vv = v.forward(hn).reshape(b, channels, h * w); // [B, C, HW]
            NDArray out = vv.matMul(att.transpose(0, 2, 1)).reshape(b, channels, h, w); // [B, C, H, W]
            return x.add(projOut.forward(out));
        }
        NDArray qq = tokens(q.forward(hn)); // [B, 1, HW, C]
        NDArray kk = tokens(k.forward(hn));
        NDArray vv = tokens(v.forward(hn));
        NDArray out = Kernels.attention(qq, kk, vv, false, Math.pow(channels, -0.5)); // [B, 1, HW(q), C]
        out = out.reshape(b, h, w, channels).transpose(0, 3, 1, 2); // [B, C, H, W], channels-last strides
        return x.add(projOut.forward(out));
    }

    /** [B, C, H, W] → [B, 1, H·W, C] (one head; a view when x is channels-last). */
    private NDArray tokens(NDArray x) {
        Shape s = x.getShape();
        return x.transpose(0, 2, 3, 1).reshape(s.get(0), 1, s.get(2) * s.get(3), channels);
    }
}
