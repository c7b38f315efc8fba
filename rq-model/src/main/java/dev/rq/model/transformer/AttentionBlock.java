package dev.rq.model.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.config.TransformerConfig;
import dev.rq.model.engine.Precision;
import dev.rq.model.kernels.BlockKernels;
import dev.rq.model.kernels.Kernels;
import dev.rq.model.nn.Ops;
import dev.rq.model.nn.LayerNorm;
import dev.rq.model.nn.Linear;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.nn.Tensors;
import java.util.List;

/**
 * The official pre-LN GPT block ({@code attentions.py}, spec §4.3): {@code x + Attn(LN1(x))},
 * then {@code x + MLP(LN2(x))}. Causal multi-head self-attention with separate key/query/value
 * projections (scores {@code q·(k/√hd)ᵀ}, −∞ above the diagonal), MLP D→4D→D with GELU, residual
 * dropout on both branches. Keys: {@code ln1, ln2, attn.{key,query,value,proj}, mlp.0, mlp.2}.
 */
final class AttentionBlock {

    private final LayerNorm ln1;
    private final LayerNorm ln2;
    private final Linear key;
    private final Linear query;
    private final Linear value;
    private final Linear proj;
    private final Linear fc1;
    private final Linear fc2;
    private final int heads;
    private final int headDim;
    private final float scale;
    private final double attnPdrop;
    private final double residPdrop;
    private final boolean exactGelu;
    private final ParamStore ps;

    AttentionBlock(ParamStore ps, String prefix, int dim, TransformerConfig.Block c) {
        this.ln1 = new LayerNorm(ps, prefix + ".ln1", dim);
        this.ln2 = new LayerNorm(ps, prefix + ".ln2", dim);
        this.key = new Linear(ps, prefix + ".attn.key", dim, dim, c.attnBias());
        this.query = new Linear(ps, prefix + ".attn.query", dim, dim, c.attnBias());
        this.value = new Linear(ps, prefix + ".attn.value", dim, dim, c.attnBias());
        this.proj = new Linear(ps, prefix + ".attn.proj", dim, dim, c.attnBias());
        this.fc1 = new Linear(ps, prefix + ".mlp.0", dim, 4 * dim, c.mlpBias());
        this.fc2 = new Linear(ps, prefix + ".mlp.2", 4 * dim, dim, c.mlpBias());
        this.heads = c.nHead();
        this.headDim = dim / heads;
        this.scale = (float) (1.0 / Math.sqrt(headDim));
        this.attnPdrop = c.attnPdrop();
        this.residPdrop = c.residPdrop();
        this.exactGelu = c.gelu().equals("v1");
        this.ps = ps;
    }

    /**
     * @param x [N, L, D]
     * @param mask additive causal mask [L, P+L] (0 / −∞) for P cached positions, or null when L = 1
     * @param fromStart no cached positions (P = 0): the mask is the plain causal one
     * @param dropout null in eval mode
     * @param cache the stack's cache (null: no caching), {@code layer} this block's index in it
     * @param rope null, or the rotary tables cos, sin [L, hd] of the L new positions ({@link Rope2d}):
     *     queries and keys are rotated before the key scale
     */
    NDArray forward(NDArray x, NDArray mask, boolean fromStart, Dropout dropout, KvCache cache, int layer,
            NDList rope) {
        if (cache == null && mask != null && fromStart && (dropout == null || attnPdrop <= 0) && stepFusable()
                && BlockKernels.enabled(dropout != null && residPdrop > 0)) {
            return fusedForward(x, mask, dropout, rope);
        }
        NDArray a = attention(ln1.forward(x), mask, fromStart, dropout, cache, layer, rope);
        if (dropout != null) {
            a = dropout.apply(a, residPdrop);
        }
        x = x.add(a);
        NDArray h = fc2.forward(gelu(fc1.forward(ln2.forward(x))));
        if (dropout != null) {
            h = dropout.apply(h, residPdrop);
        }
        return x.add(h);
    }

    /**
     * {@link #forward} of a whole uncached sequence as one native call ({@link BlockKernels#trainBlock}:
     * the same operators in the same order). The residual-dropout masks are drawn before the call in
     * the order {@link #forward} draws them (attention branch, then MLP), so they are the same masks.
     *
     * @param x [N, L, D] float32
     */
    private NDArray fusedForward(NDArray x, NDArray mask, Dropout dropout, NDList rope) {
        NDList w = new NDList(ln1.weight(), ln1.bias(), key.weight(), query.weight(), value.weight(), key.bias(),
                query.bias(), value.bias(), proj.weight(), proj.bias(), ln2.weight(), ln2.bias(), fc1.weight(),
                fc1.bias(), fc2.weight(), fc2.bias());
        boolean drop = dropout != null && residPdrop > 0;
        long l = x.getShape().get(1);
        try (NDArray da = drop ? dropout.mask(x.getManager(), x.getShape(), residPdrop) : null;
                NDArray dh = drop ? dropout.mask(x.getManager(), x.getShape(), residPdrop) : null) {
            return BlockKernels.trainBlock(x, mask, w, da, dh, heads, scale, LayerNorm.EPS, exactGelu,
                    l <= explicitMaxLen(), ps.precision() == Precision.BF16, rope);
        }
    }

    /**
     * @return sequences up to this length without a KV cache (training and teacher forcing: the depth
     *     head's length D, bench64's body length 64, the quickstart's 257) attend through explicit
     *     batched GEMMs + float32 softmax in one call ({@link Kernels#attentionExplicit}, the official
     *     code's path; it materialises the [N, h, L, L] float32 scores) instead of libtorch's flash
     *     kernel: 64 in float32, 512 in bfloat16. libtorch 2.7's CPU flash kernel gets slower, not
     *     faster, with a second intra-op thread at these shapes (one bench64 fp32 training step profiled
     *     idle: flash forward 54 → 175 ms, backward 29 → 88 ms from 1 to 2 threads; the stock PyTorch
     *     2.13 wheel does the same), while the explicit GEMMs scale. {@code rq bench} fp32 training, 2
     *     threads, idle, 3 alternating runs: 21.7 vs 17.5 img/s (1.25×); 1 thread about equal; bf16 1.39×
     *     less work per step at 1 thread (session 6). The quickstart's bf16 step (body length 257, 1
     *     thread per rank): 1.175× less thread CPU explicit than flash; fp32 there 0.96× (session 11,
     *     docs/performance-history.md). {@code -Drq.attention.explicit_max_len=N} sets both limits ({@code 0}:
     *     flash everywhere, to compare; read at every call, so an in-process A/B can switch).
     */
    int explicitMaxLen() {
        return Integer.getInteger("rq.attention.explicit_max_len", ps.precision() == Precision.BF16 ? 512 : 64);
    }

    private NDArray attention(NDArray x, NDArray mask, boolean fromStart, Dropout dropout, KvCache cache,
            int layer, NDList rope) {
        Shape s = x.getShape();
        long n = s.get(0);
        long l = s.get(1);
        // one GEMM for key, query and value (weights concatenated; gradients flow back through the
        // concat). Incremental decoding keeps the concatenation in its cache.
        // cached (inference): made and cast to the compute precision once per cache
        NDList wb = cache != null ? cache.fusedProjection(layer, () -> toCompute(fusedProjection())) : fusedProjection();
        NDArray kqv = Ops.affine(ps.toCompute(x), ps.toCompute(wb.get(0)), wb.size() > 1 ? ps.toCompute(wb.get(1)) : null)
                .reshape(n, l, 3, heads, headDim); // [N, L, 3, h, hd]
        // split, not three selects: the backward pass is one cat into [N, L, 3, h, hd] (contiguous, so
        // the reshape back to [N, L, 3D] is a view) instead of three zero-filled copies of kqv and their
        // sum, and the forward values are the same views
        NDList parts = JniUtils.split((PtNDArray) kqv, 1L, 2L);
        NDArray k = heads(parts.get(0), n, l); // [N, h, L, hd]
        NDArray q = heads(parts.get(1), n, l);
        NDArray v = heads(parts.get(2), n, l);
        if (rope != null) {
            q = Kernels.rope(q, rope.get(0), rope.get(1));
            k = Kernels.rope(k, rope.get(0), rope.get(1));
        }
        k = Ops.scale(k, scale);
        if (cache != null) {
            NDList kv = cache.append(layer, k, v); // scaled keys are cached
            k = kv.get(0);
            v = kv.get(1);
        }
        NDArray y; // [N, h, L, hd]
        if (dropout != null && attnPdrop > 0) { // attention dropout from our own generators: explicit
            NDArray att = Kernels.toFloat32(q.matMul(k.transpose(0, 1, 3, 2))); // [N, h, L, T]
            if (mask != null) {
                att = att.add(mask);
            }
            att = dropout.apply(att.softmax(-1), attnPdrop);
            y = ps.toCompute(att).matMul(v);
        } else if (mask != null && fromStart && cache == null && l <= explicitMaxLen()) {
            y = Kernels.attentionExplicit(q, k, v, mask); // see explicitMaxLen
        } else if (mask == null) {
            y = Kernels.attention(q, k, v, false, 1.0); // keys are scaled already
        } else if (fromStart) {
            y = Kernels.attention(q, k, v, true, 1.0);
        } else {
            y = Kernels.attention(q, k, v, mask, 1.0);
        }
        return proj.forward(y.transpose(0, 2, 1, 3).reshape(n, l, (long) heads * headDim));
    }

    /** @return whether {@link AttentionStack} may run this block through {@link Kernels#cachedStackStep} */
    boolean stepFusable() {
        return key.bias() != null && fc1.bias() != null;
    }

    /**
     * @return this block's 12 tensors in {@link Kernels#cachedStackStep}'s order (LayerNorms in
     *     float32, the rest in the compute precision; the fused projection is the cache's)
     */
    NDList stepWeights(KvCache cache, int layer) {
        NDList f = cache.fusedProjection(layer, () -> toCompute(fusedProjection()));
        NDList l = new NDList(ln1.weight(), ln1.bias(), f.get(0), f.get(1));
        l.addAll(proj.computeTensors());
        l.add(ln2.weight());
        l.add(ln2.bias());
        l.addAll(fc1.computeTensors());
        l.addAll(fc2.computeTensors());
        return l;
    }

    int heads() {
        return heads;
    }

    int headDim() {
        return headDim;
    }

    float scale() {
        return scale;
    }

    boolean exactGelu() {
        return exactGelu;
    }

    /** @return one [N, L, 1, h, hd] part of the fused projection as [N, h, L, hd] (a view) */
    private NDArray heads(NDArray part, long n, long l) {
        return part.reshape(n, l, heads, headDim).transpose(0, 2, 1, 3);
    }

    /** @return [key; query; value] weight [3D, D] and, with biases, bias [3D] */
    private NDList fusedProjection() {
        NDList f = new NDList(NDArrays.concat(new NDList(key.weight(), query.weight(), value.weight()), 0));
        if (key.bias() != null) {
            f.add(NDArrays.concat(new NDList(key.bias(), query.bias(), value.bias()), 0));
        }
        return f;
    }

    private NDList toCompute(NDList l) {
        NDList out = new NDList(l.size());
        for (NDArray a : l) {
            out.add(ps.toCompute(a));
        }
        return out;
    }

    private NDArray gelu(NDArray x) {
        if (exactGelu) {
            return JniUtils.gelu((PtNDArray) x);
        }
        return x.mul(Ops.scale(x, 1.702f).getNDArrayInternal().sigmoid());
    }

    /**
     * @return the additive causal mask [L, P+L] for L new positions after P cached ones: query i
     *     sees keys j ≤ P+i
     */
    static NDArray causalMask(NDManager m, int past, int len) {
        int total = past + len;
        float[] v = new float[len * total];
        for (int i = 0; i < len; i++) {
            for (int j = past + i + 1; j < total; j++) {
                v[i * total + j] = Float.NEGATIVE_INFINITY;
            }
        }
        return Tensors.of(m, v, new Shape(len, total));
    }

}
