package dev.rq.model.kernels;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.JniUtils;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import dev.rq.model.engine.Switches;

/**
 * The libtorch operators the layers need beyond DJL's API, each one native call (see {@link
 * ScriptFunction}). Shapes are PyTorch's; every function is differentiable and keeps the input's
 * memory format (NCHW or channels-last NHWC) and, where it says so, its dtype.
 */
public final class Kernels {

    /** TorchScript's code for {@code torch.channels_last}. */
    private static final int CHANNELS_LAST = 2;
    /** TorchScript's codes for {@code torch.float32} and {@code torch.bfloat16}. */
    private static final int FLOAT32 = 6;
    private static final int BFLOAT16 = 15;

    private static final Map<String, ScriptFunction> FUNCTIONS = new ConcurrentHashMap<>();

    private Kernels() {}

    /** @return the compiled function cached under {@code key} (compiled on first use) */
    static ScriptFunction function(String key, Supplier<ScriptFunction> compile) {
        return fn(key, compile);
    }

    private static ScriptFunction fn(String key, Supplier<ScriptFunction> compile) {
        ScriptFunction f = FUNCTIONS.get(key);
        return f != null ? f : FUNCTIONS.computeIfAbsent(key, k -> compile.get());
    }

    /** A cache-key form of a double: cheap to build at every call (unlike {@link #lit}). */
    static String bits(double v) {
        return Long.toHexString(Double.doubleToRawLongBits(v));
    }

    /** Formats a double as a TorchScript float literal that round-trips exactly. */
    static String lit(double v) {
        String s = Double.toString(v);
        return s.toLowerCase(Locale.ROOT);
    }

    /**
     * The same values in channels-last memory (NHWC strides, NCHW shape), as {@code
     * x.contiguous(memory_format=torch.channels_last)}; a no-op copy-free view when it already is.
     *
     * @param x [B, C, H, W]
     */
    public static NDArray channelsLast(NDArray x) {
        return fn("channels_last", () -> ScriptFunction.compile("channels_last", "x: Tensor",
                "return torch.contiguous(x, memory_format=" + CHANNELS_LAST + ")")).call(x);
    }

    /** @return the same values in row-major (NCHW) memory; {@code x} itself when it already is */
    public static NDArray contiguous(NDArray x) {
        return fn("contiguous", () -> ScriptFunction.compile("contiguous", "x: Tensor",
                "return torch.contiguous(x)")).call(x);
    }

    /** @return whether the 4-D {@code x} is stored channels-last (for tests and assertions) */
    public static boolean isChannelsLast(NDArray x) {
        try (NDArray flag = fn("is_channels_last", () -> ScriptFunction.compile("is_channels_last", "x: Tensor",
                "return torch.tensor(torch.is_contiguous(x, memory_format=" + CHANNELS_LAST + "))")).call(x)) {
            return flag.toBooleanArray()[0];
        }
    }

    /** @return {@code x} as bfloat16 (the same array when it already is) */
    public static NDArray toBf16(NDArray x) {
        if (isBf16(x)) {
            return x;
        }
        return fn("to_bf16", () -> ScriptFunction.compile("to_bf16", "x: Tensor",
                "return torch.to(x, " + BFLOAT16 + ")")).call(x);
    }

    /** @return {@code x} as float32 (the same array when it already is) */
    public static NDArray toFloat32(NDArray x) {
        if (x.getDataType() == DataType.FLOAT32) {
            return x;
        }
        return fn("to_float32", () -> ScriptFunction.compile("to_float32", "x: Tensor",
                "return torch.to(x, " + FLOAT32 + ")")).call(x);
    }

    /**
     * @return whether {@code x} holds bfloat16 (DJL 0.36 reports libtorch's bfloat16 as {@code
     *     UNKNOWN}; a later DJL may report {@code BFLOAT16})
     */
    public static boolean isBf16(NDArray x) {
        DataType t = x.getDataType();
        return t == DataType.BFLOAT16 || t == DataType.UNKNOWN;
    }

    /**
     * Whether float32 models use the fused kernels as bfloat16 does (on by default; {@code
     * -Drq.kernels.fp32=false} gives float32 the explicit operators). In-process A/B of the bench64
     * RQ-VAE training step at 2 intra-op threads on the idle machine (scripts/VaeStepAb.java, NCHW,
     * 2026-12-06): 1.71–1.85× faster with them. The kill/resume mismatch that kept them off before is
     * fixed by {@code VaeTrainer}'s warm-up pass (docs/performance-history.md "Kernels and memory format: the
     * fp32 kernels switch"). Read at each call, so that an
     * in-process A/B can alternate it step by step.
     */
    public static boolean fp32Kernels() {
        return Switches.on("rq.kernels.fp32");
    }

    /**
     * @return whether the layer computing on {@code x} uses the fused kernels (GroupNorm, SiLU,
     *     nearest upsampling, attention): bfloat16 always, float32 unless {@link #fp32Kernels} is off
     */
    public static boolean fused(NDArray x) {
        return isBf16(x) || fp32Kernels();
    }

    /**
     * {@code x} followed by {@code extra} zero slices along axis 0, in {@code x}'s dtype (float32
     * or bfloat16) and differentiable, as {@code torch.cat([x, x.new_zeros(extra, ...)])}.
     *
     * @param x [N, ...]
     * @return [N + extra, ...]
     */
    public static NDArray zeroPadFirstAxis(NDArray x, long extra) {
        int rank = x.getShape().dimension();
        StringBuilder pad = new StringBuilder();
        for (int i = 1; i < rank; i++) {
            pad.append("0, 0, ");
        }
        pad.append("0, ").append(extra);
        String key = "zero_pad_first_axis_" + rank + "_" + extra;
        return fn(key, () -> ScriptFunction.compile(key, "x: Tensor",
                "return torch.constant_pad_nd(x, [" + pad + "], 0.)")).call(x);
    }

    /**
     * Maps with fewer pixels than this (H·W) take {@link #groupNormLines}'s NCHW route in a bfloat16
     * channels-last inference pass: libtorch 2.7.1's channels-last bfloat16 GroupNorm kernel is 4–5×
     * slower there than its NCHW kernel plus two layout copies (its other channels-last implementation,
     * for H·W ≥ 1024, is not; docs/performance-history.md "Session 14").
     */
    static final int SMALL_GROUP_NORM_PIXELS = 1024;

    /**
     * Whether the GroupNorm kernels compiled now take the small-map route of {@link #groupNormLines}:
     * only without autograd (training passes keep their kernels and backward as they are) and unless
     * {@code -Drq.kernels.small_group_norm=false} (read per call, for the A/B).
     */
    static boolean smallGroupNormRoute() {
        return !JniUtils.isGradMode() && Switches.on("rq.kernels.small_group_norm");
    }

    /**
     * TorchScript lines that set {@code out} to {@code act(group_norm(in, groups, w, b, eps))} ({@code
     * act} "silu", "silu_" or null for none). With {@code smallRoute}, a bfloat16 channels-last {@code
     * in} of under {@link #SMALL_GROUP_NORM_PIXELS} pixels is copied to NCHW, normalised (and activated)
     * there by libtorch's NCHW kernel and copied back to channels-last; anything else (float32, NCHW,
     * larger maps) runs on {@code in} as it is.
     */
    static String groupNormLines(String out, String in, String w, String b, int groups, double eps, String act,
            boolean smallRoute) {
        String rest = ", " + groups + ", " + w + ", " + b + ", " + lit(eps) + ")";
        String gn = "torch.group_norm(" + in + rest;
        String nat = out + " = " + (act == null ? gn : "torch." + act + "(" + gn + ")");
        if (!smallRoute) {
            return nat;
        }
        String nchw = "torch.group_norm(torch.contiguous(" + in + ")" + rest;
        return String.join("\n",
                "if ops.prim.dtype(" + in + ") == " + BFLOAT16 + " and torch.is_contiguous(" + in + ", memory_format="
                        + CHANNELS_LAST + ") and " + in + ".size(2) * " + in + ".size(3) < " + SMALL_GROUP_NORM_PIXELS + ":",
                "    " + out + " = torch.contiguous(" + (act == null ? nchw : "torch." + act + "(" + nchw + ")")
                        + ", memory_format=" + CHANNELS_LAST + ")",
                "else:",
                "    " + nat);
    }

    /**
     * {@code torch.nn.functional.group_norm(x, groups, gamma, beta, eps)}: one fused kernel (and
     * one fused backward). A bfloat16 {@code x} with float32 {@code gamma}/{@code beta} gives
     * bfloat16 with float32 statistics; without autograd, small bfloat16 channels-last maps take
     * {@link #groupNormLines}'s NCHW route.
     *
     * @param x [B, C, *]
     * @param gamma [C]
     * @param beta [C]
     */
    public static NDArray groupNorm(NDArray x, int groups, NDArray gamma, NDArray beta, double eps) {
        boolean small = smallGroupNormRoute() && x.getShape().dimension() == 4;
        String key = "group_norm_" + groups + "_" + bits(eps) + (small ? "_small" : "");
        return fn(key, () -> ScriptFunction.compile(key, "x: Tensor, w: Tensor, b: Tensor",
                groupNormLines("y", "x", "w", "b", groups, eps, null, small)
                        + "\nreturn y")).call(x, gamma, beta);
    }

    /**
     * {@code group_norm} then SiLU in one call (the pre-activation of every ResNet-block
     * convolution). Without autograd the SiLU runs in place on the normalised tensor, as the
     * official model's {@code nonlinearity} after {@code norm} (one output buffer instead of two);
     * with autograd out of place, since SiLU's backward needs its input. Same values either way.
     * {@code -Drq.kernels.inplace_silu=false} (read per call) keeps it out of place, to compare.
     * Without autograd, small bfloat16 channels-last maps take {@link #groupNormLines}'s NCHW route.
     *
     * @param x [B, C, *]
     */
    public static NDArray groupNormSilu(NDArray x, int groups, NDArray gamma, NDArray beta, double eps) {
        boolean inPlace = !JniUtils.isGradMode() && Switches.on("rq.kernels.inplace_silu");
        boolean small = smallGroupNormRoute() && x.getShape().dimension() == 4;
        String silu = inPlace ? "silu_" : "silu";
        String key = "group_norm_" + silu + "_" + groups + "_" + bits(eps) + (small ? "_small" : "");
        return fn(key, () -> ScriptFunction.compile(key, "x: Tensor, w: Tensor, b: Tensor",
                groupNormLines("y", "x", "w", "b", groups, eps, silu, small) + "\nreturn y"))
                .call(x, gamma, beta);
    }

    /** SiLU / swish {@code x·σ(x)} as one kernel. */
    public static NDArray silu(NDArray x) {
        return fn("silu", () -> ScriptFunction.compile("silu", "x: Tensor", "return torch.silu(x)")).call(x);
    }

    /**
     * Nearest-neighbour ×2 upsampling ({@code F.interpolate(x, scale_factor=2, mode="nearest")}):
     * each pixel becomes a 2×2 block.
     *
     * @param x [B, C, H, W]
     * @return [B, C, 2H, 2W]
     */
    public static NDArray upsampleNearest2x(NDArray x) {
        return fn("upsample_nearest_2x", () -> ScriptFunction.compile("upsample_nearest_2x", "x: Tensor",
                "return torch.upsample_nearest2d(x, None, [2., 2.])")).call(x);
    }

    /**
     * Nearest-neighbour ×2 upsampling followed by a 3×3 convolution (stride 1, padding 1), {@code
     * conv2d(upsample_nearest2d(x, 2), w, b, padding=1)}, computed as the one transposed convolution it
     * equals: stride 2, padding 1, a 4×4 kernel whose taps are sums of w's taps (per axis [w₂, w₁+w₂,
     * w₀+w₁, w₀]: output row 2i reads input rows i−1 with w₀ and i with w₁+w₂, row 2i+1 reads i with
     * w₀+w₁ and i+1 with w₂). 16 instead of 36 multiply-adds per output pixel and channel pair, and no
     * upsampled [B, C, 2H, 2W] input is written or kept for the backward pass. The same function
     * mathematically; the kernel's sums and the accumulation order round differently (relative error
     * ~1e-6 in float32). The taps are summed in w's dtype (float32 master weights), then cast to x's
     * dtype, as {@code ParamStore.compute} casts a weight.
     *
     * @param x [B, Cin, H, W] in the compute dtype, NCHW or channels-last
     * @param w [Cout, Cin, 3, 3]
     * @param b [Cout]
     * @return [B, Cout, 2H, 2W] in x's dtype
     */
    public static NDArray upsampleNearestConv3x3(NDArray x, NDArray w, NDArray b) {
        return fn("upsample_nearest_conv3x3", () -> ScriptFunction.compile("upsample_nearest_conv3x3",
                "x: Tensor, w: Tensor, b: Tensor", String.join("\n",
                        "dt = ops.prim.dtype(x)",
                        "w = torch.stack([w[:, :, 2], w[:, :, 1] + w[:, :, 2], w[:, :, 0] + w[:, :, 1], w[:, :, 0]], 2)",
                        "w = torch.stack([w[:, :, :, 2], w[:, :, :, 1] + w[:, :, :, 2], w[:, :, :, 0] + w[:, :, :, 1],"
                                + " w[:, :, :, 0]], 3)",
                        "k = torch.to(torch.transpose(w, 0, 1), dt).contiguous()",
                        "return torch.conv_transpose2d(x, k, torch.to(b, dt), [2, 2], [1, 1], [0, 0], 1, [1, 1])")))
                .call(x, w, b);
    }

    /**
     * Squared Euclidean distances of rows to codes as the official quantizer computes them: {@code
     * torch.addmm(‖x‖² + ‖e‖², x, eᵀ, alpha=-2)}, one GEMM that adds into the norms instead of a
     * GEMM, a doubling and a subtraction over the whole [N, K] result. The same float32 values as
     * {@code (‖x‖² + ‖e‖²) − 2·(x eᵀ)} computed in that order where libtorch hands both GEMMs to
     * MKL (the doubling is exact; e.g. bench64's [1024, 64] × [64, 1024]), equal up to rounding
     * where it uses its own loops (small or oddly strided shapes).
     *
     * @param x [N, C] float32
     * @param e [K, C] float32
     * @return [N, K] float32
     */
    public static NDArray squaredDistances(NDArray x, NDArray e) {
        return fn("squared_distances", () -> ScriptFunction.compile("squared_distances", "x: Tensor, e: Tensor",
                String.join("\n",
                        "norms = torch.add(torch.sum(torch.square(x), [1], True), torch.unsqueeze(torch.sum(torch.square(e), [1]), 0))",
                        "return torch.addmm(norms, x, torch.t(e), beta=1, alpha=-2)"))).call(x, e);
    }

    /**
     * Index of the first minimum of each row, as {@code torch.argmin(x, 1)}, computed as {@code
     * torch.min(x, 1).indices}: the same indices (both return the first minimal value's), and
     * libtorch 2.7.1's min-with-indices kernel is about 2× faster than its argmin on [1024, 1024]
     * float32 (0.79 vs 1.6 ms at 1 thread). {@code -Drq.kernels.min_indices=false} (read per call)
     * uses argmin, to compare.
     *
     * @param x [N, K]
     * @return [N] int64
     */
    public static NDArray argminRows(NDArray x) {
        if (!Switches.on("rq.kernels.min_indices")) {
            return x.argMin(1);
        }
        return fn("argmin_rows", () -> ScriptFunction.compile("argmin_rows", "x: Tensor",
                "return torch.min(x, 1)[1]")).call(x);
    }

    /**
     * Scaled dot-product attention without dropout, {@code softmax(q kᵀ·scale [+ causal mask]) v},
     * through libtorch's fused (flash) CPU kernel.
     *
     * @param q [..., L, E]
     * @param k [..., S, E]
     * @param v [..., S, Ev]
     * @param causal query i attends to keys j ≤ i only ({@code is_causal}; for L = S)
     * @return [..., L, Ev]
     */
    public static NDArray attention(NDArray q, NDArray k, NDArray v, boolean causal, double scale) {
        String key = "sdpa_" + causal + "_" + bits(scale);
        return fn(key, () -> ScriptFunction.compile(key, "q: Tensor, k: Tensor, v: Tensor",
                "return torch.scaled_dot_product_attention(q, k, v, None, 0., " + (causal ? "True" : "False")
                        + ", scale=" + lit(scale) + ")")).call(q, k, v);
    }

    /**
     * Scaled dot-product attention with an additive mask, {@code softmax(q kᵀ·scale + mask) v}.
     *
     * @param mask [L, S] (0 or −∞), broadcast over the leading axes
     */
    public static NDArray attention(NDArray q, NDArray k, NDArray v, NDArray mask, double scale) {
        String key = "sdpa_masked_" + bits(scale);
        return fn(key, () -> ScriptFunction.compile(key, "q: Tensor, k: Tensor, v: Tensor, mask: Tensor",
                "return torch.scaled_dot_product_attention(q, k, v, torch.to(mask, q.dtype), 0., False, scale="
                        + lit(scale) + ")")).call(q, k, v, mask);
    }

    /**
     * Rotary position encoding of queries or keys (RoFormer's rotation, the "rotate half" pairing):
     * channel j and j + E/2 of every head are rotated by the angle whose cosine and sine are column j
     * of {@code cos} and {@code sin}, computed in float32 and cast back to {@code x}'s dtype. Rows of
     * angle 0 (cos 1, sin 0) leave a position's values exactly unchanged.
     *
     * @param x [N, h, L, E] (float32 or bfloat16; any strides)
     * @param cos [L, E] float32, the cosines of the angles, columns j and j + E/2 equal
     * @param sin [L, E] float32, the sines
     * @return [N, h, L, E] in {@code x}'s dtype
     */
    public static NDArray rope(NDArray x, NDArray cos, NDArray sin) {
        int e = Math.toIntExact(x.getShape().get(3));
        String key = "rope_" + e;
        return fn(key, () -> ScriptFunction.compile(key, "x: Tensor, cos: Tensor, sin: Tensor",
                ropeLines("x", "cos", "sin", e, "") + "\nreturn x")).call(x, cos, sin);
    }

    /**
     * @return the TorchScript lines of {@link #rope} that replace {@code x} by its rotation (the same
     *     operators in every fused kernel, so the values are bitwise those of {@link #rope})
     */
    static String ropeLines(String x, String cos, String sin, int e, String indent) {
        int half = e / 2;
        String f = x + "_f";
        return String.join("\n",
                indent + f + " = torch.to(" + x + ", " + FLOAT32 + ")",
                indent + x + " = torch.to(torch.add(torch.mul(" + f + ", " + cos + "), torch.mul(torch.cat([torch.neg("
                        + "torch.narrow(" + f + ", -1, " + half + ", " + half + ")), torch.narrow(" + f + ", -1, 0, "
                        + half + ")], -1), " + sin + ")), " + x + ".dtype)");
    }

    /**
     * @return whether {@link #cachedStackStep} and {@link #depthStep} attend through libtorch's flash
     *     kernel ({@code -Drq.sample.step_attention=flash}, read at each call) instead of explicitly in
     *     float32
     */
    public static boolean stepAttentionFlash() {
        return "flash".equals(System.getProperty("rq.sample.step_attention"));
    }

    /**
     * One new position through a whole stack of pre-LN GPT blocks with key/value caches, in one
     * native call (KV-cached sampling: the DJL form makes about 40 calls per block for a [B, 1, D]
     * input, whose per-call cost exceeded the arithmetic). Per block, the operators of {@code
     * dev.rq.model.transformer.AttentionBlock}'s incremental path in the same order: {@code h = LN1(x)}
     * (float32), cast to the compute dtype (that of the fused key/query/value weight), fused projection,
     * split into heads, keys times {@code scale}, keys and values written in place at position {@code
     * pos} of the caches, attention over positions 0..pos, output projection, {@code x + a}; {@code h =
     * LN2(x)}, cast, fc1, GELU (exact, or {@code h·σ(1.702h)}), fc2, {@code x + h}. The attention is
     * explicit in float32 ({@code softmax(q kᵀ) v}, inputs cast up, result cast to the compute dtype):
     * one query row per (sample, head), where libtorch's flash kernel (the block path's) spends its
     * time in per-(sample, head) set-up and bfloat16 GEMV calls. {@code -Drq.sample.step_attention=flash}
     * (read at each call) uses the flash kernel instead, which makes the step bit-identical to the
     * block-by-block path.
     *
     * @param x [B, 1, D] float32
     * @param weights per block, 12 tensors: LN1 weight, bias (float32), fused key/query/value weight
     *     [3D, D], bias [3D], projection weight, bias, LN2 weight, bias, fc1 weight, bias, fc2
     *     weight, bias (all but the LayerNorms in the compute dtype); with {@code rope}, then the
     *     rotary tables cos, sin [P, D/h] float32 of every position ({@link #rope})
     * @param keys per block its key cache [B, h, capacity, D/h] (compute dtype), written at {@code pos}
     * @param values per block its value cache, the same shape
     * @param pos the new position (positions before it are cached)
     * @param rope queries and keys rotated by row {@code pos} of the tables (before the key scale, as
     *     the block path)
     * @return [B, 1, D] float32 (runs in libtorch's inference mode: no autograd graph)
     */
    public static NDArray cachedStackStep(NDArray x, IValue weights, IValue keys, IValue values, long pos, int dim,
            int heads, float scale, float eps, boolean exactGelu, boolean rope) {
        String key = "cached_stack_" + dim + "_" + heads + "_" + bits(scale) + "_" + bits(eps) + "_" + exactGelu
                + (rope ? "_rope" : "");
        boolean flash = stepAttentionFlash();
        String fkey = key + (flash ? "_flash" : "_explicit");
        ScriptFunction f = fn(fkey, () -> ScriptFunction.compile(fkey,
                "x: Tensor, w: List[Tensor], kc: List[Tensor], vc: List[Tensor], pos: int",
                "n = torch.size(x, 0)\n" + stackLoop(dim, heads, scale, eps, exactGelu, flash, rope) + "\nreturn x"));
        PtNDManager manager = (PtNDManager) x.getManager();
        try (IValue xi = IValue.from((PtNDArray) x); IValue p = IValue.from(pos);
                IValue out = f.callIValues(xi, weights, keys, values, p); PtNDArray y = out.toTensor(manager)) {
            // DJL runs IValue calls in libtorch's inference mode: its result is an "inference tensor",
            // which a caller with autograd on (a Spark task thread) could not use with weights that
            // require gradients; the clone is a normal tensor ([B, 1, D], negligible)
            return y.duplicate();
        }
    }

    /**
     * One code of the depth stack in one native call: {@link #cachedStackStep}'s stack with the depth
     * token before it and the classifier after it, as {@code RqTransformer.depthToken}, {@code
     * headForward} and {@code classify} compute them one DJL call at a time (the same operators in
     * the same order): the token is {@code x + pos_d[d]} at d = 0 and {@code head_mlp(x) + pos_d[d]}
     * after (x cast to the compute dtype first), the logits {@code float32(linear(LN(h)))}.
     *
     * @param x [B, D] the position's spatial context (d = 0) or [B, C] the sum of its code embeddings
     *     of depths &lt; d (float32)
     * @param weights the stack's tensors as in {@link #cachedStackStep}, then head_mlp weight, bias
     *     (compute dtype), pos_emb_d [1, Dd, D], the classifier's LayerNorm weight, bias (float32), its
     *     linear weight, bias (compute dtype)
     * @return logits [B, K] float32
     */
    public static NDArray depthStep(NDArray x, int d, IValue weights, IValue keys, IValue values, long pos, int dim,
            int heads, float scale, float eps, boolean exactGelu) {
        boolean flash = stepAttentionFlash();
        String fkey = "depth_step_" + dim + "_" + heads + "_" + bits(scale) + "_" + bits(eps) + "_" + exactGelu
                + (flash ? "_flash" : "_explicit");
        ScriptFunction f = fn(fkey, () -> ScriptFunction.compile(fkey,
                "x: Tensor, d: int, w: List[Tensor], kc: List[Tensor], vc: List[Tensor], pos: int", String.join("\n",
                        "e = 12 * len(kc)",
                        "dt = ops.prim.dtype(w[e])",
                        "if d == 0:",
                        "    t = x",
                        "else:",
                        "    t = torch.linear(torch.to(x, dt), w[e], w[e + 1])",
                        "x = torch.unsqueeze(torch.add(t, torch.select(torch.select(w[e + 2], 0, 0), 0, d)), 1)",
                        "n = torch.size(x, 0)",
                        stackLoop(dim, heads, scale, eps, exactGelu, flash, false),
                        "h = torch.squeeze(x, 1)",
                        "h = torch.to(torch.layer_norm(h, [" + dim + "], w[e + 3], w[e + 4], " + lit(eps) + ", False), dt)",
                        "return torch.to(torch.linear(h, w[e + 5], w[e + 6]), " + FLOAT32 + ")")));
        PtNDManager manager = (PtNDManager) x.getManager();
        try (IValue xi = IValue.from((PtNDArray) x); IValue di = IValue.from((long) d); IValue p = IValue.from(pos);
                IValue out = f.callIValues(xi, di, weights, keys, values, p); PtNDArray y = out.toTensor(manager)) {
            return y.duplicate(); // out of inference mode, as in cachedStackStep
        }
    }

    /** @return the TorchScript loop over the blocks of {@link #cachedStackStep} (x, n, w, kc, vc, pos in scope) */
    private static String stackLoop(int dim, int heads, float scale, float eps, boolean exactGelu, boolean flash,
            boolean rope) {
        int hd = dim / heads;
        String gelu = exactGelu ? "h = torch.gelu(h)" : "h = torch.mul(h, torch.sigmoid(torch.mul(h, 1.702)))";
        String kSeq = "torch.narrow(kc[i], 2, 0, pos + 1)";
        String vSeq = "torch.narrow(vc[i], 2, 0, pos + 1)";
        String attn = flash
                ? "    y = torch.scaled_dot_product_attention(q, " + kSeq + ", " + vSeq + ", None, 0., False, scale=1.)"
                : "    y = torch.to(torch.matmul(torch.softmax(torch.matmul(torch.to(q, " + FLOAT32 + "), torch.transpose("
                        + "torch.to(" + kSeq + ", " + FLOAT32 + "), 2, 3)), -1), torch.to(" + vSeq + ", " + FLOAT32 + ")), dt)";
        String ropeRows = rope
                ? "rc = torch.narrow(w[12 * len(kc)], 0, pos, 1)\nrs = torch.narrow(w[12 * len(kc) + 1], 0, pos, 1)\n"
                : "";
        String ropeQk = rope ? ropeLines("q", "rc", "rs", hd, "    ") + "\n" + ropeLines("k", "rc", "rs", hd, "    ") : "";
        return ropeRows + String.join("\n",
                "for i in range(len(kc)):",
                "    o = 12 * i",
                "    dt = ops.prim.dtype(w[o + 2])",
                "    h = torch.to(torch.layer_norm(x, [" + dim + "], w[o], w[o + 1], " + lit(eps) + ", False), dt)",
                "    kqv = torch.reshape(torch.linear(torch.reshape(h, [-1, " + dim + "]), w[o + 2], w[o + 3]),"
                        + " [n, 1, 3, " + heads + ", " + hd + "])",
                "    parts = torch.split(kqv, 1, 2)",
                "    k = torch.transpose(torch.reshape(parts[0], [n, 1, " + heads + ", " + hd + "]), 1, 2)",
                "    q = torch.transpose(torch.reshape(parts[1], [n, 1, " + heads + ", " + hd + "]), 1, 2)",
                "    v = torch.transpose(torch.reshape(parts[2], [n, 1, " + heads + ", " + hd + "]), 1, 2)",
                ropeQk,
                "    k = torch.mul(k, " + lit(scale) + ")",
                "    k0 = torch.copy_(torch.narrow(kc[i], 2, pos, 1), k)",
                "    v0 = torch.copy_(torch.narrow(vc[i], 2, pos, 1), v)",
                attn,
                "    y = torch.reshape(torch.transpose(y, 1, 2), [n, 1, " + dim + "])",
                "    a = torch.reshape(torch.linear(torch.reshape(y, [-1, " + dim + "]), w[o + 4], w[o + 5]),"
                        + " [n, 1, " + dim + "])",
                "    x = torch.add(x, a)",
                "    h = torch.to(torch.layer_norm(x, [" + dim + "], w[o + 6], w[o + 7], " + lit(eps) + ", False), dt)",
                "    h = torch.reshape(torch.linear(torch.reshape(h, [-1, " + dim + "]), w[o + 8], w[o + 9]),"
                        + " [n, 1, " + 4 * dim + "])",
                "    " + gelu,
                "    h = torch.reshape(torch.linear(torch.reshape(h, [-1, " + 4 * dim + "]), w[o + 10], w[o + 11]),"
                        + " [n, 1, " + dim + "])",
                "    x = torch.add(x, h)");
    }

    /**
     * Attention for short sequences as explicit batched GEMMs and a softmax, in one call:
     * {@code softmax(float32(q kᵀ) + mask) v}, the probabilities cast back to {@code q}'s dtype before
     * the second GEMM (the official code's {@code bmm} path). For the depth head's length-4
     * sequences, where libtorch's flash kernel spends its time in per-(sample, head) set-up.
     *
     * @param q [B, h, L, E], keys already scaled
     * @param k [B, h, S, E]
     * @param v [B, h, S, Ev]
     * @param mask [L, S] additive (0 or −∞), float32
     * @return [B, h, L, Ev]
     */
    public static NDArray attentionExplicit(NDArray q, NDArray k, NDArray v, NDArray mask) {
        return fn("attention_explicit", () -> ScriptFunction.compile("attention_explicit",
                "q: Tensor, k: Tensor, v: Tensor, mask: Tensor", String.join("\n",
                        "att = torch.to(torch.matmul(q, torch.transpose(k, -2, -1)), " + FLOAT32 + ")",
                        "att = torch.softmax(torch.add(att, mask), -1)",
                        "return torch.matmul(torch.to(att, v.dtype), v)"))).call(q, k, v, mask);
    }
}
