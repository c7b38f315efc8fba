package dev.rq.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.HashMap;
import java.util.Map;

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
        NDArray normed = x.getNDArrayInternal()
                .layerNorm(g, new Shape(n), constant(x.getManager(), n, 1f), constant(x.getManager(), n, 0f), eps)
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

    private static final ThreadLocal<Map<String, NDArray>> CONSTANTS = ThreadLocal.withInitial(HashMap::new);

    /** A cached constant vector of length n (not part of any graph). */
    private static NDArray constant(NDManager m, long n, float v) {
        String key = System.identityHashCode(m.getEngine()) + ":" + n + ":" + v;
        Map<String, NDArray> cache = CONSTANTS.get();
        NDArray a = cache.get(key);
        if (a == null || a.isReleased()) {
            NDManager root = m.getEngine().newBaseManager();
            a = root.full(new Shape(n), v);
            cache.put(key, a);
        }
        return a;
    }
}
