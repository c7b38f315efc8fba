package dev.rq.model.kernels;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.engine.Switches;

/**
 * The RQ-VAE's ResNet block as one native call: {@code dev.rq.model.nn.ResnetBlock}'s operators in
 * the same order (so the same values, bit for bit), where the block-by-block path makes 5–12 DJL
 * calls per block (two GroupNorm+SiLU kernels, two or three convolutions, the bfloat16 weight casts,
 * the residual add). Differentiable: under autograd every operator is recorded as in the DJL path and
 * the backward pass is libtorch's (docs/performance-history.md "Session 11: one native call per ResNet block").
 */
public final class ResBlockKernels {

    private ResBlockKernels() {}

    /**
     * Whether {@code ResnetBlock} runs as one call ({@code -Drq.kernels.fused_resblock}, read at each
     * call so that an in-process A/B can alternate it; off only for exactly {@code false}).
     */
    public static boolean enabled() {
        return Switches.on("rq.kernels.fused_resblock");
    }

    /**
     * {@code add(shortcut(x), conv2(silu(gn2(conv1(silu(gn1(x)))))))} without dropout: each
     * convolution's weight and bias are cast to {@code x}'s dtype first ({@code torch.to}, a no-op when
     * they already are), as {@code ParamStore.compute} casts them; GroupNorm keeps its float32 affine.
     * Without autograd the SiLUs run in place on the GroupNorm outputs, as {@link
     * Kernels#groupNormSilu} does ({@code -Drq.kernels.inplace_silu}), and small bfloat16 channels-last
     * maps take the GroupNorm NCHW route of {@link Kernels#groupNormLines} ({@code
     * -Drq.kernels.small_group_norm}).
     *
     * @param x [B, Cin, H, W] in the compute dtype, NCHW or channels-last (kept)
     * @param p gn1 weight, bias [Cin] (float32), conv1 weight [Cout, Cin, 3, 3], bias [Cout], gn2
     *     weight, bias [Cout], conv2 weight [Cout, Cout, 3, 3], bias [Cout], then, when Cin ≠ Cout,
     *     nin_shortcut weight [Cout, Cin, 1, 1], bias [Cout]
     * @return [B, Cout, H, W] in x's dtype and memory format
     */
    public static NDArray resnetBlock(NDArray x, int groups, double eps, NDArray... p) {
        boolean nin = p.length == 10;
        if (!nin && p.length != 8) {
            throw new IllegalArgumentException("resnetBlock: 8 or 10 tensors expected, got " + p.length);
        }
        boolean inPlace = !JniUtils.isGradMode() && Switches.on("rq.kernels.inplace_silu");
        String silu = inPlace ? "silu_" : "silu";
        boolean small = Kernels.smallGroupNormRoute();
        String key = "resnet_block_" + nin + "_" + silu + "_" + groups + "_" + Kernels.bits(eps) + (small ? "_small" : "");
        String conv3 = ", [1, 1], [1, 1], [1, 1], 1)";
        String params = "x: Tensor, g1: Tensor, b1: Tensor, w1: Tensor, c1: Tensor, g2: Tensor, b2: Tensor, w2: Tensor,"
                + " c2: Tensor" + (nin ? ", wn: Tensor, cn: Tensor" : "");
        String body = String.join("\n",
                "dt = ops.prim.dtype(x)",
                Kernels.groupNormLines("h", "x", "g1", "b1", groups, eps, silu, small),
                "h = torch.conv2d(h, torch.to(w1, dt), torch.to(c1, dt)" + conv3,
                Kernels.groupNormLines("h", "h", "g2", "b2", groups, eps, silu, small),
                "h = torch.conv2d(h, torch.to(w2, dt), torch.to(c2, dt)" + conv3,
                nin ? "s = torch.conv2d(x, torch.to(wn, dt), torch.to(cn, dt), [1, 1], [0, 0], [1, 1], 1)" : "s = x",
                "return torch.add(s, h)");
        NDArray[] in = new NDArray[p.length + 1];
        in[0] = x;
        System.arraycopy(p, 0, in, 1, p.length);
        return Kernels.function(key, () -> ScriptFunction.compile(key, params, body)).call(in);
    }
}
