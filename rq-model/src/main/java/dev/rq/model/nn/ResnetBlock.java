package dev.rq.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.engine.Precision;
import dev.rq.model.kernels.Kernels;
import dev.rq.model.kernels.ResBlockKernels;

/**
 * The official VAE ResNet block (no time embedding):
 * {@code out = shortcut(x) + conv2(dropout(swish(norm2(conv1(swish(norm1(x)))))))}, with a 1×1
 * {@code nin_shortcut} only when the channel count changes.
 */
public final class ResnetBlock {

    private final ParamStore ps;
    private final GroupNorm norm1;
    private final Conv2d conv1;
    private final GroupNorm norm2;
    private final Conv2d conv2;
    private final Conv2d ninShortcut;
    private final int out;
    private final float dropout;

    public ResnetBlock(ParamStore ps, String prefix, int in, int out, double dropout) {
        this.ps = ps;
        this.norm1 = new GroupNorm(ps, prefix + ".norm1", in);
        this.conv1 = new Conv2d(ps, prefix + ".conv1", in, out, 3, 1, 1);
        this.norm2 = new GroupNorm(ps, prefix + ".norm2", out);
        this.conv2 = new Conv2d(ps, prefix + ".conv2", out, out, 3, 1, 1);
        this.ninShortcut = in == out ? null : new Conv2d(ps, prefix + ".nin_shortcut", in, out, 1, 1, 0);
        this.out = out;
        this.dropout = (float) dropout;
    }

    /** x: [B, in, H, W] → [B, out, H, W]. */
    public NDArray forward(NDArray x, boolean training) {
        if (oneCall(x, training)) {
            NDArray[] p = ninShortcut == null ? new NDArray[8] : new NDArray[10];
            p[0] = norm1.weight();
            p[1] = norm1.bias();
            p[2] = conv1.weightForKernel();
            p[3] = conv1.biasForKernel();
            p[4] = norm2.weight();
            p[5] = norm2.bias();
            p[6] = conv2.weightForKernel();
            p[7] = conv2.biasForKernel();
            if (ninShortcut != null) {
                p[8] = ninShortcut.weightForKernel();
                p[9] = ninShortcut.biasForKernel();
            }
            return ResBlockKernels.resnetBlock(x, GroupNorm.GROUPS, GroupNorm.EPS, p);
        }
        NDArray h = conv1.forward(norm1.forwardSwish(x));
        h = norm2.forwardSwish(h);
        if (training && dropout > 0) {
            h = h.getNDArrayInternal().dropout(h, dropout, true).singletonOrThrow();
        }
        h = conv2.forward(h);
        NDArray shortcut = ninShortcut == null ? x : ninShortcut.forward(x);
        return shortcut.add(h);
    }

    /**
     * Whether this call runs as one native call ({@link ResBlockKernels}): the same operators as below
     * exist there only for the fused GroupNorm+SiLU kernels ({@link Kernels#fused}), no dropout, an input
     * already in the compute dtype, and convolutions that {@link Ops#conv2d} would not pad.
     */
    boolean oneCall(NDArray x, boolean training) {
        return ResBlockKernels.enabled() && Kernels.fused(x) && !(training && dropout > 0)
                && Kernels.isBf16(x) == (ps.precision() == Precision.BF16)
                && (out % Ops.CONV_OUT_BLOCK == 0 || !JniUtils.isGradMode());
    }
}
