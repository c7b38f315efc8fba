package dev.rq.model.nn;

import ai.djl.ndarray.NDArray;

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
        NDArray qq = q.forward(hn).reshape(b, channels, h * w).transpose(0, 2, 1); // [B, HW, C]
        NDArray kk = k.forward(hn).reshape(b, channels, h * w); // [B, C, HW]
        NDArray att = Ops.scale(qq.matMul(kk), (float) Math.pow(channels, -0.5)); // [B, HW(q), HW(k)]
        att = att.softmax(2);
        NDArray vv = v.forward(hn).reshape(b, channels, h * w); // [B, C, HW]
        NDArray out = vv.matMul(att.transpose(0, 2, 1)).reshape(b, channels, h, w); // [B, C, H, W]
        return x.add(projOut.forward(out));
    }
}
