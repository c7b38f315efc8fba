package dev.rq.model.nn;

import ai.djl.ndarray.NDArray;

/**
 * The official VAE ResNet block (no time embedding):
 * {@code out = shortcut(x) + conv2(dropout(swish(norm2(conv1(swish(norm1(x)))))))}, with a 1×1
 * {@code nin_shortcut} only when the channel count changes.
 */
public final class ResnetBlock {

    private final GroupNorm norm1;
    private final Conv2d conv1;
    private final GroupNorm norm2;
    private final Conv2d conv2;
    private final Conv2d ninShortcut;
    private final float dropout;

    public ResnetBlock(ParamStore ps, String prefix, int in, int out, double dropout) {
        this.norm1 = new GroupNorm(ps, prefix + ".norm1", in);
        this.conv1 = new Conv2d(ps, prefix + ".conv1", in, out, 3, 1, 1);
        this.norm2 = new GroupNorm(ps, prefix + ".norm2", out);
        this.conv2 = new Conv2d(ps, prefix + ".conv2", out, out, 3, 1, 1);
        this.ninShortcut = in == out ? null : new Conv2d(ps, prefix + ".nin_shortcut", in, out, 1, 1, 0);
        this.dropout = (float) dropout;
    }

    /** x: [B, in, H, W] → [B, out, H, W]. */
    public NDArray forward(NDArray x, boolean training) {
        NDArray h = conv1.forward(norm1.forwardSwish(x));
        h = norm2.forwardSwish(h);
        if (training && dropout > 0) {
            h = h.getNDArrayInternal().dropout(h, dropout, true).singletonOrThrow();
        }
        h = conv2.forward(h);
        NDArray shortcut = ninShortcut == null ? x : ninShortcut.forward(x);
        return shortcut.add(h);
    }
}
