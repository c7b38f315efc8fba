package dev.rq.model.kernels;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;

/**
 * A whole pre-LN GPT block of a training (teacher-forcing) pass as one native call: the operators
 * of {@code dev.rq.model.transformer.AttentionBlock}'s uncached path in the same order, so the
 * values and, through autograd over the scripted call, the gradients are those of the ~35 DJL
 * calls it replaces (each a JNI crossing, a Java handle registered with its manager, libtorch's
 * dispatch).
 */
public final class BlockKernels {

    private static final int BFLOAT16 = 15;
    private static final int FLOAT32 = 6;

    /** Calls of {@link #trainBlock} so far (for tests: that the one-call path ran). */
    private static final java.util.concurrent.atomic.AtomicLong CALLS = new java.util.concurrent.atomic.AtomicLong();

    private BlockKernels() {}

    /** @return how many times {@link #trainBlock} has run in this process */
    public static long calls() {
        return CALLS.get();
    }

    /**
     * Whether a block of a teacher-forcing pass runs as one call ({@link #trainBlock}), from {@code
     * -Drq.kernels.fused_block} (read at each call): unset or {@code true}, blocks without residual
     * dropout in this pass (the quickstart's; eval passes); {@code always}, also blocks with dropout
     * (their masks passed in); {@code false}, never. In-process A/Bs at 1 thread (docs/performance-history.md,
     * session 11): the quickstart's step 1.011–1.028× less thread CPU with it; bench64's (dropout 0.1)
     * 0.95–1.04× (within the noise), so dropout blocks keep the DJL calls by default.
     *
     * @param dropout whether the block applies residual dropout in this pass
     */
    public static boolean enabled(boolean dropout) {
        String v = System.getProperty("rq.kernels.fused_block", "true");
        return dropout ? v.equals("always") : !v.equals("false");
    }

    /**
     * {@code x + a} with {@code a = proj(attn(LN1(x)))}, then {@code x + fc2(GELU(fc1(LN2(x))))}; each
     * branch times its residual-dropout mask when given. LayerNorms and the residual stream in
     * float32; with {@code bf16} the LayerNorm outputs and every weight are cast to bfloat16 before
     * their GEMMs (the weights at each call, so gradients reach the float32 masters). The key, query
     * and value projections are one GEMM on the concatenated weights, split into heads; keys are
     * scaled by {@code scale} before the attention, which is causal: explicit ({@link
     * Kernels#attentionExplicit}'s operators, {@code explicitAttention}) or libtorch's flash kernel.
     *
     * @param x [N, L, D] float32
     * @param mask [L, L] additive causal mask (0 / −∞), float32 (used by the explicit attention)
     * @param w the block's 16 float32 tensors: LN1 weight, bias; key, query, value weights [D, D]; key,
     *     query, value biases [D]; projection weight, bias; LN2 weight, bias; fc1 weight [4D, D], bias;
     *     fc2 weight [D, 4D], bias
     * @param dropA the attention branch's dropout mask [N, L, D] float32, or null
     * @param dropH the MLP branch's dropout mask [N, L, D] float32, or null (both or neither)
     * @param rope null, or the rotary tables cos, sin [L, D/h] float32 of the positions: queries and
     *     keys rotated ({@link Kernels#rope}) before the key scale
     * @return [N, L, D] float32
     */
    public static NDArray trainBlock(NDArray x, NDArray mask, NDList w, NDArray dropA, NDArray dropH, int heads,
            float scale, float eps, boolean exactGelu, boolean explicitAttention, boolean bf16, NDList rope) {
        if (w.size() != 16) {
            throw new IllegalArgumentException("a block has 16 tensors, got " + w.size());
        }
        int dim = Math.toIntExact(x.getShape().get(2));
        boolean dropout = dropA != null;
        String key = "train_block_" + dim + "_" + heads + "_" + Float.floatToRawIntBits(scale) + "_"
                + Float.floatToRawIntBits(eps) + "_" + exactGelu + "_" + explicitAttention + "_" + bf16 + "_" + dropout
                + (rope != null ? "_rope" : "");
        ScriptFunction f = Kernels.function(key, () -> ScriptFunction.compile(key,
                "x: Tensor, mask: Tensor, ln1w: Tensor, ln1b: Tensor, kw: Tensor, qw: Tensor, vw: Tensor, kb: Tensor,"
                        + " qb: Tensor, vb: Tensor, pw: Tensor, pb: Tensor, ln2w: Tensor, ln2b: Tensor, f1w: Tensor,"
                        + " f1b: Tensor, f2w: Tensor, f2b: Tensor" + (dropout ? ", da: Tensor, dh: Tensor" : "")
                        + (rope != null ? ", rc: Tensor, rs: Tensor" : ""),
                source(dim, heads, scale, eps, exactGelu, explicitAttention, bf16, dropout, rope != null)));
        NDArray[] in = new NDArray[18 + (dropout ? 2 : 0) + (rope != null ? 2 : 0)];
        in[0] = x;
        in[1] = mask;
        for (int i = 0; i < 16; i++) {
            in[2 + i] = w.get(i);
        }
        int next = 18;
        if (dropout) {
            in[next++] = dropA;
            in[next++] = dropH;
        }
        if (rope != null) {
            in[next++] = rope.get(0);
            in[next] = rope.get(1);
        }
        CALLS.incrementAndGet();
        return f.call(in);
    }

    /** @return the body of {@link #trainBlock}'s function */
    static String source(int dim, int heads, float scale, float eps, boolean exactGelu, boolean explicitAttention,
            boolean bf16, boolean dropout, boolean rope) {
        int hd = dim / heads;
        String e = Kernels.lit(eps);
        // the compute-precision copy of a tensor (ParamStore.toCompute / compute): a cast in bfloat16
        java.util.function.UnaryOperator<String> c = t -> bf16 ? "torch.to(" + t + ", " + BFLOAT16 + ")" : t;
        String attention = explicitAttention
                ? String.join("\n",
                        "att = torch.to(torch.matmul(q, torch.transpose(k, -2, -1)), " + FLOAT32 + ")",
                        "att = torch.softmax(torch.add(att, mask), -1)",
                        "y = torch.matmul(torch.to(att, v.dtype), v)")
                : "y = torch.scaled_dot_product_attention(q, k, v, None, 0., True, scale=1.)";
        String gelu = exactGelu ? "h = torch.gelu(h)" : "h = torch.mul(h, torch.sigmoid(torch.mul(h, 1.702)))";
        return String.join("\n",
                "n = torch.size(x, 0)",
                "l = torch.size(x, 1)",
                "h = " + c.apply("torch.layer_norm(x, [" + dim + "], ln1w, ln1b, " + e + ", False)"),
                "wf = " + c.apply("torch.cat([kw, qw, vw], 0)"),
                "bf = " + c.apply("torch.cat([kb, qb, vb], 0)"),
                "kqv = torch.reshape(torch.reshape(torch.linear(torch.reshape(h, [-1, " + dim + "]), wf, bf), [n, l, "
                        + 3 * dim + "]), [n, l, 3, " + heads + ", " + hd + "])",
                "parts = torch.split(kqv, 1, 2)",
                "k = torch.permute(torch.reshape(parts[0], [n, l, " + heads + ", " + hd + "]), [0, 2, 1, 3])",
                "q = torch.permute(torch.reshape(parts[1], [n, l, " + heads + ", " + hd + "]), [0, 2, 1, 3])",
                "v = torch.permute(torch.reshape(parts[2], [n, l, " + heads + ", " + hd + "]), [0, 2, 1, 3])",
                rope ? Kernels.ropeLines("q", "rc", "rs", hd, "") + "\n" + Kernels.ropeLines("k", "rc", "rs", hd, "") : "",
                "k = torch.mul(k, torch.full([], " + Kernels.lit(scale) + ", dtype=" + FLOAT32 + "))",
                attention,
                "y = torch.reshape(torch.permute(y, [0, 2, 1, 3]), [n, l, " + dim + "])",
                "a = torch.reshape(torch.linear(torch.reshape(y, [-1, " + dim + "]), " + c.apply("pw") + ", "
                        + c.apply("pb") + "), [n, l, " + dim + "])",
                dropout ? "a = torch.mul(a, da)" : "",
                "x = torch.add(x, a)",
                "h = " + c.apply("torch.layer_norm(x, [" + dim + "], ln2w, ln2b, " + e + ", False)"),
                "h = torch.reshape(torch.linear(torch.reshape(h, [-1, " + dim + "]), " + c.apply("f1w") + ", "
                        + c.apply("f1b") + "), [n, l, " + 4 * dim + "])",
                gelu,
                "h = torch.reshape(torch.linear(torch.reshape(h, [-1, " + 4 * dim + "]), " + c.apply("f2w") + ", "
                        + c.apply("f2b") + "), [n, l, " + dim + "])",
                dropout ? "h = torch.mul(h, dh)" : "",
                "return torch.add(x, h)");
    }
}
