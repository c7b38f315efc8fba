package dev.rq.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/** Tensor primitives with exactly the semantics of the PyTorch layers they replace. */
public final class Ops {

    private static final Shape ONE = new Shape(1, 1);

    private Ops() {}

    /**
     * 2-D convolution, cross-correlation as in {@code torch.nn.functional.conv2d}.
     *
     * @param x [B, Cin, H, W]
     * @param w [Cout, Cin, k, k]
     * @param b [Cout]
     * @return [B, Cout, H', W']
     */
    public static NDArray conv2d(NDArray x, NDArray w, NDArray b, int stride, int pad) {
        return x.getNDArrayInternal()
                .convolution(x, w, b, new Shape(stride, stride), new Shape(pad, pad), ONE, 1)
                .singletonOrThrow();
    }

    /**
     * x·v for a scalar v, safe inside autograd. DJL's {@code mul(Number)} wraps the scalar in a
     * tensor over a Java buffer and closes it right after the op, but autograd keeps that tensor for
     * the backward pass, which then reads freed memory (rarely: only after a GC). Here the scalar is
     * a libtorch-owned tensor that lives as long as {@code x}'s manager.
     */
    public static NDArray scale(NDArray x, float v) {
        return x.mul(x.getManager().full(new Shape(), v));
    }

    /** SiLU / swish: x·σ(x). */
    public static NDArray swish(NDArray x) {
        return x.mul(x.getNDArrayInternal().sigmoid());
    }

    /**
     * GroupNorm as {@code torch.nn.GroupNorm(groups, C, eps, affine=True)}: biased variance over
     * each group of C/groups channels and all positions. Computed as a fused layer norm over the
     * flattened group.
     *
     * @param x [B, C, H, W]
     * @param gamma [C]
     * @param beta [C]
     */
    public static NDArray groupNorm(NDArray x, int groups, NDArray gamma, NDArray beta, float eps) {
        Shape s = x.getShape();
        long b = s.get(0);
        long c = s.get(1);
        long n = s.size() / (b * groups);
        NDArray g = x.reshape(b, groups, n); // [B, G, C/G·H·W]
        NDManager m = x.getManager();
        NDArray normed = x.getNDArrayInternal()
                .layerNorm(g, new Shape(n), m.ones(new Shape(n)), m.zeros(new Shape(n)), eps)
                .singletonOrThrow();
        return normed.reshape(s).mul(gamma.reshape(1, c, 1, 1)).add(beta.reshape(1, c, 1, 1));
    }

    /**
     * LayerNorm over the last axis, as {@code torch.nn.LayerNorm(D, eps)}.
     *
     * @param x [..., D]
     */
    public static NDArray layerNorm(NDArray x, NDArray gamma, NDArray beta, float eps) {
        long d = x.getShape().get(x.getShape().dimension() - 1);
        return x.getNDArrayInternal().layerNorm(x, new Shape(d), gamma, beta, eps).singletonOrThrow();
    }

    /**
     * Linear layer {@code y = x Wᵀ + b}.
     *
     * @param x [..., in]
     * @param w [out, in]
     * @param b [out]
     */
    public static NDArray linear(NDArray x, NDArray w, NDArray b) {
        NDArray y = x.matMul(w.transpose());
        return b == null ? y : y.add(b);
    }

}
