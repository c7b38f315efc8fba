package dev.rq.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.kernels.Kernels;
import java.util.function.UnaryOperator;

/** Tensor primitives with exactly the semantics of the PyTorch layers they replace. */
public final class Ops {

    private static final Shape ONE = new Shape(1, 1);

    /**
     * Output-channel block of the convolutions whose input gradient libtorch computes correctly on
     * every CPU we run on; see {@link #conv2d}.
     */
    static final int CONV_OUT_BLOCK = 16;

    private Ops() {}

    /**
     * 2-D convolution, cross-correlation as in {@code torch.nn.functional.conv2d}.
     *
     * <p>With autograd on, a convolution whose output channels are not a multiple of {@value
     * #CONV_OUT_BLOCK} runs with its weight and bias padded by zero channels up to the next
     * multiple, and the extra output channels are sliced away: libtorch 2.7.1's CPU backward pass
     * computes the <em>input</em> gradient of such a convolution wrongly on AVX-512 machines (AMD
     * EPYC Zen 5 here: every element wrong for 32→3 at 3×3 / pad 1, sometimes NaN; the weight
     * gradient and the forward are right), which corrupted every gradient upstream of the RQ-VAE's
     * {@code conv_out} (3 channels) and made training NaN now and then. The padded convolution's
     * first channels and all gradients are the same mathematically; {@code Conv2dGradientTest}
     * checks the input gradient against a brute-force sum.
     *
     * @param x [B, Cin, H, W]
     * @param w [Cout, Cin, k, k]
     * @param b [Cout]
     * @return [B, Cout, H', W']
     */
    public static NDArray conv2d(NDArray x, NDArray w, NDArray b, int stride, int pad) {
        long cout = w.getShape().get(0);
        if (cout % CONV_OUT_BLOCK == 0 || !JniUtils.isGradMode()) {
            return convolution(x, w, b, stride, pad);
        }
        long extra = (cout + CONV_OUT_BLOCK - 1) / CONV_OUT_BLOCK * CONV_OUT_BLOCK - cout;
        NDArray wp = Kernels.zeroPadFirstAxis(w, extra); // in w's dtype: float32 or bfloat16
        NDArray bp = b == null ? null : Kernels.zeroPadFirstAxis(b, extra);
        return convolution(x, wp, bp, stride, pad).get(new NDIndex().addAllDim().addSliceDim(0, cout)); // [B, Cout, H', W']
    }

    private static NDArray convolution(NDArray x, NDArray w, NDArray b, int stride, int pad) {
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

    /**
     * {@code block.apply(x)}; in an inference pass ({@code training} false) every other array the block
     * creates is closed before this returns, so that a pass frees each block's intermediates before
     * the next block runs, as PyTorch frees a tensor when its last reference goes, instead of holding
     * the whole pass's activations until the caller's scope ends (every operator then writes fresh,
     * page-faulting, uncached memory: about 60,000 minor page faults per bench64 tokenize call,
     * docs/performance-history.md "Session 8: bf16 tokenize"). The result moves to the enclosing
     * {@link NDScope}, if any. {@code -Drq.inference.free_early=false} (read at each call) keeps every
     * array, to compare. Training passes and any pass under autograd (e.g. VaeTrainer's warm-up) are
     * unchanged.
     */
    public static NDArray freeEarly(boolean training, NDArray x, UnaryOperator<NDArray> block) {
        if (training || JniUtils.isGradMode()
                || !Boolean.parseBoolean(System.getProperty("rq.inference.free_early", "true"))) {
            return block.apply(x);
        }
        NDArray out;
        try (NDScope scope = new NDScope()) {
            out = block.apply(x);
            NDScope.unregister(out);
        }
        if (out != x) {
            NDScope.register(out);
        }
        return out;
    }

    /**
     * SiLU / swish: x·σ(x); one fused kernel ({@link Kernels#fused}; the two-op form in float32
     * with {@code -Drq.kernels.fp32=false}).
     */
    public static NDArray swish(NDArray x) {
        return Kernels.fused(x) ? Kernels.silu(x) : x.mul(x.getNDArrayInternal().sigmoid());
    }

    /**
     * GroupNorm as {@code torch.nn.GroupNorm(groups, C, eps, affine=True)}: biased variance over
     * each group of C/groups channels and all positions; libtorch's fused kernel, in x's memory
     * format.
     *
     * @param x [B, C, H, W]
     * @param gamma [C]
     * @param beta [C]
     */
    public static NDArray groupNorm(NDArray x, int groups, NDArray gamma, NDArray beta, float eps) {
        if (Kernels.fused(x)) {
            return Kernels.groupNorm(x, groups, gamma, beta, eps);
        }
        // float32 (default): a layer norm over each flattened group, then the affine
        Shape s = x.getShape();
        long b = s.get(0);
        long c = s.get(1);
        long n = s.size() / (b * groups);
        NDArray g = x.reshape(b, groups, n); // [B, G, C/G·H·W]
        NDManager m = x.getManager();
        NDArray normed = x.getNDArrayInternal()
                .layerNorm(g, new Shape(n), m.ones(new Shape(n), x.getDataType()), m.zeros(new Shape(n), x.getDataType()),
                        eps)
                .singletonOrThrow();
        return normed.reshape(s).mul(gamma.reshape(1, c, 1, 1)).add(beta.reshape(1, c, 1, 1));
    }

    /**
     * The VAE's convolution memory layout, {@code -Drq.channels_last}: {@code inference} (default)
     * runs inference passes (tokenize, decode, sampling) in channels-last memory (NHWC) and training
     * passes in NCHW; {@code true} runs both in NHWC, {@code false} both in NCHW. Measured in-process
     * on this 2-core CPU (scripts/VaeStepAb.java, 2 threads, 2026-12-06): NHWC made the bench64
     * training step 0.90× as fast in float32 and 0.82× in bfloat16, while oneDNN's NHWC convolutions
     * help tokenizing. Read at each call, so that an in-process A/B can alternate it step by step.
     */
    public static String channelsLastMode() {
        return System.getProperty("rq.channels_last", "inference");
    }

    /**
     * @param x [B, C, H, W] (any strides, e.g. a transposed [B, H, W, C] view)
     * @param training whether this pass records gradients for a training step
     * @return x in the VAE's memory format for this pass (see {@link #channelsLastMode}): channels-last
     *     or contiguous NCHW
     */
    public static NDArray toModelLayout(NDArray x, boolean training) {
        String mode = channelsLastMode();
        if (!mode.equals("inference") && !mode.equals("true") && !mode.equals("false")) {
            throw new IllegalArgumentException("-Drq.channels_last=" + mode + ": expected inference, true or false");
        }
        boolean nhwc = "true".equals(mode) || ("inference".equals(mode) && !training);
        return nhwc ? Kernels.channelsLast(x) : Kernels.contiguous(x);
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

    /**
     * Linear layer {@code y = x Wᵀ + b} as {@code torch.nn.functional.linear} computes it: the rows
     * of x flattened to one matrix and the bias added inside the GEMM ({@code addmm}), whose
     * backward sums the bias gradient over the rows, instead of a separate broadcast add over the
     * whole output and its reduction. Same values as {@link #linear} up to float rounding.
     *
     * @param x [..., in]
     * @param w [out, in]
     * @param b [out] or null
     * @return [..., out]
     */
    public static NDArray affine(NDArray x, NDArray w, NDArray b) {
        if (b == null) {
            return linear(x, w, b);
        }
        Shape s = x.getShape();
        int last = s.dimension() - 1;
        NDArray rows = last == 1 ? x : x.reshape(-1, s.get(last)); // [rows, in]
        NDArray y = JniUtils.linear((PtNDArray) rows, (PtNDArray) w, (PtNDArray) b); // [rows, out]
        return last == 1 ? y : y.reshape(s.slice(0, last).add(w.getShape().get(0)));
    }

}
