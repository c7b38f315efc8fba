package dev.rq.model.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.config.TransformerConfig;
import dev.rq.model.engine.Precision;
import dev.rq.model.engine.Switches;
import dev.rq.model.kernels.Kernels;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.TensorData;
import dev.rq.model.safetensors.TensorSource;
import java.io.IOException;
import dev.rq.model.nn.LayerNorm;
import dev.rq.model.nn.Linear;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.nn.Tensors;
import dev.rq.model.util.Rng;
import dev.rq.model.vae.RqVae;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The RQ-Transformer (stage 2), exactly the official model (spec §4): a spatial ("body") and a
 * depth ("head") stack of pre-LN causal GPT blocks over inputs built from the frozen RQ-VAE code
 * embeddings, with a classifier shared over depths. Tensors carry their official state-dict
 * names, so official checkpoints load directly.
 *
 * <p>Shapes: codes [B, H, W, Dd] int64 (depth last, raster order); cond [B] or [B, Lc] int64
 * (null: zeros); logits [B, H, W, Dd, K]. The RQ-VAE is passed to every call that needs code
 * embeddings, as the official {@code model_aux}; it is never trained here.
 *
 * <p>Teacher-forcing forward (spec §4.4): spatial tokens {@code u_t = Σ_d input_mlp(E[t,d]) +
 * pos_emb_hw[t]}; body input {@code [cond_emb(c)+pos_emb_cond, u_0 … u_{T−2}]}; spatial context
 * of stack t = body output at Lc−1+t; depth input {@code [ctx_t, head_mlp(Σ_{i≤0}E) … head_mlp(Σ_{i≤Dd−2}E)]
 * + pos_emb_d}; classifier = LayerNorm → Linear → logit mask.
 */
public final class RqTransformer implements AutoCloseable {

    private final TransformerConfig config;
    private final ParamStore params;
    private final String posCond;
    private final String posHw;
    private final String posD;
    private final String condEmb;
    private final Linear inputMlp;
    private final Linear headMlp;
    private final Rope2d rope; // model.pos_rope2d (no weights), or null
    private final AttentionStack body;
    private final AttentionStack head;
    private final LayerNorm clsNorm;
    private final Linear clsLinear; // shared classifier
    private final String batchWeight; // per-depth classifier (shared_cls_emb = false)
    private final String batchBias;
    private final LayerNorm condNorm;
    private final Linear condLinear;
    private NDArray logitMask; // [Dd, K] or null when all depths share the vocabulary

    private RqTransformer(TransformerConfig c, NDManager manager) {
        this.config = c;
        this.params = new ParamStore(manager);
        int d = c.embedDim();
        int lc = c.condLength();
        // declaration order = official state-dict order (spec §5.4)
        this.posCond = params.declare("pos_emb_cond", new long[] {1, lc, d}, ParamStore.Init.NORMAL_002, 0, true, false);
        this.posHw = params.declare("pos_emb_hw", new long[] {1, c.positions(), d}, ParamStore.Init.NORMAL_002, 0, true, false);
        this.posD = params.declare("pos_emb_d", new long[] {1, c.depth(), d}, ParamStore.Init.NORMAL_002, 0, true, false);
        this.condEmb = params.declare("cond_emb.weight", new long[] {c.condEmbRows(), d}, ParamStore.Init.NORMAL, 0, true, false);
        this.inputMlp = new Linear(params, "input_mlp", c.inputEmbedDim(), d, true);
        this.headMlp = new Linear(params, "head_mlp", c.inputEmbedDim(), d, true);
        this.rope = c.posRope2d() ? new Rope2d(manager, lc, c.height(), c.width(), c.bodyHeadDim()) : null;
        this.body = new AttentionStack(params, "body_transformer", d, c.body(), rope);
        this.head = new AttentionStack(params, "head_transformer", d, c.head(), null);
        this.clsNorm = new LayerNorm(params, "classifier.layer_norm", d);
        int k = c.maxVocab();
        if (c.sharedClsEmb()) {
            this.clsLinear = new Linear(params, "classifier.linear", d, k, true);
            this.batchWeight = null;
            this.batchBias = null;
        } else {
            this.clsLinear = null;
            this.batchWeight = params.declare("classifier.linear.weight", new long[] {c.depth(), d, k},
                    ParamStore.Init.FAN_IN_UNIFORM, d, true);
            this.batchBias = params.declare("classifier.linear.bias", new long[] {c.depth(), k},
                    ParamStore.Init.FAN_IN_UNIFORM, d, true, false);
        }
        if (c.blockSizeCond() > 1) {
            this.condNorm = new LayerNorm(params, "cond_classifier.layer_norm", d);
            this.condLinear = new Linear(params, "cond_classifier.linear", d, c.condVocab(), true);
        } else {
            this.condNorm = null;
            this.condLinear = null;
        }
        boolean sameVocab = c.vocabSize().stream().distinct().count() == 1;
        if (!sameVocab) {
            float[] mask = new float[c.depth() * k];
            for (int dd = 0; dd < c.depth(); dd++) {
                for (int j = c.vocab(dd); j < k; j++) {
                    mask[dd * k + j] = Float.NEGATIVE_INFINITY;
                }
            }
            this.logitMask = Tensors.of(manager, mask, new Shape(c.depth(), k));
        }
    }

    /**
     * Creates a randomly initialised model (the released code's initialisers, seeded); with {@code
     * pos_emb_hw_init: sincos_2d} {@code pos_emb_hw} then starts from {@link #sincos2d} instead (the
     * random draws, and so every other tensor, are those of the official init).
     */
    public static RqTransformer create(TransformerConfig config, NDManager manager, long seed) {
        RqTransformer m = new RqTransformer(config, manager);
        m.params.initialize(Rng.of(seed, 0x7a4f));
        if (TransformerConfig.POS_INIT_SINCOS_2D.equals(config.posEmbHwInit())) {
            m.params.set(m.posHw, Tensors.of(manager, sincos2d(config.height(), config.width(), config.embedDim()),
                    new Shape(1, config.positions(), config.embedDim())));
        }
        return m;
    }

    /**
     * The 2-D sine-cosine position table (as MAE's {@code get_2d_sincos_pos_embed}): for raster
     * position t = r·W + c, channels [0, D/4) are sin(r·ω_i), [D/4, D/2) cos(r·ω_i), [D/2, 3D/4)
     * sin(c·ω_i), [3D/4, D) cos(c·ω_i), with ω_i = 10000^(−i/(D/4)).
     *
     * @return [H·W · D] row-major; D must be divisible by 4
     */
    static float[] sincos2d(int h, int w, int d) {
        int q = d / 4;
        float[] v = new float[h * w * d];
        for (int r = 0; r < h; r++) {
            for (int c = 0; c < w; c++) {
                int o = (r * w + c) * d;
                for (int i = 0; i < q; i++) {
                    double omega = Math.pow(10000.0, -(double) i / q);
                    v[o + i] = (float) Math.sin(r * omega);
                    v[o + q + i] = (float) Math.cos(r * omega);
                    v[o + 2 * q + i] = (float) Math.sin(c * omega);
                    v[o + 3 * q + i] = (float) Math.cos(c * omega);
                }
            }
        }
        return v;
    }

    /** @return the official state-dict keys and shapes of {@code config} (no weights are allocated) */
    public static Map<String, long[]> declaredShapes(TransformerConfig config) {
        try (NDManager m = dev.rq.model.engine.Engines.newManager()) {
            return new RqTransformer(config, m).params.shapes();
        }
    }

    /**
     * Checks an official-format state's names and shapes against {@code config} without loading
     * anything.
     *
     * @throws IllegalArgumentException naming the first mismatching, missing or unexpected key
     */
    public static void checkState(TransformerConfig config, dev.rq.model.safetensors.SafeTensors.Header state) {
        try (NDManager m = dev.rq.model.engine.Engines.newManager()) {
            new RqTransformer(config, m).params.checkAgainst(state, true);
        }
    }

    /** @return the number of parameters of {@code config} (no tensors are allocated) */
    public static long parameterCount(TransformerConfig config) {
        try (NDManager m = dev.rq.model.engine.Engines.newManager()) {
            return new RqTransformer(config, m).params.trainableCount();
        }
    }

    /** @return the shapes of the trainable parameters of {@code config}, in parameter order (no tensors are allocated) */
    public static Map<String, long[]> trainableShapes(TransformerConfig config) {
        try (NDManager m = dev.rq.model.engine.Engines.newManager()) {
            ParamStore p = new RqTransformer(config, m).params;
            Map<String, long[]> out = new java.util.LinkedHashMap<>();
            p.trainableKeys().forEach(k -> out.put(k, p.spec(k).shape()));
            return out;
        }
    }

    /** Creates a model from an official-format state dict (strict: every key, no extras). */
    public static RqTransformer fromStateDict(TransformerConfig config, Map<String, HostTensor> state,
            NDManager manager) {
        RqTransformer m = new RqTransformer(config, manager);
        m.params.load(state, true);
        return m;
    }

    /**
     * Creates a model from an official-format state dict streamed one tensor at a time (strict:
     * every key, no extras; names and shapes are checked before any data is read). Closes the
     * partly loaded model if the source fails (e.g. a checksum mismatch at its end).
     */
    public static RqTransformer fromState(TransformerConfig config, TensorSource state, NDManager manager)
            throws IOException {
        RqTransformer m = new RqTransformer(config, manager);
        try {
            m.params.load(state, true);
            return m;
        } catch (IOException | RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /** @return the official state dict, in state-dict order */
    public Map<String, HostTensor> stateDict() {
        return params.toHost();
    }

    /** @return the official state dict as views copied to the host one tensor at a time (streaming saves) */
    public Map<String, TensorData> stateTensors() {
        return params.tensors();
    }

    /** @return the configuration */
    public TransformerConfig config() {
        return config;
    }

    /** @return the compute precision (float32 unless set) */
    public Precision precision() {
        return params.precision();
    }

    /**
     * Sets the compute precision: {@link Precision#BF16} runs the linear layers and attention in
     * bfloat16; embeddings, LayerNorms, the residual stream and the logits stay float32.
     */
    public void setPrecision(Precision precision) {
        params.setPrecision(precision);
    }

    /** @return the parameters (all trainable) */
    public ParamStore params() {
        return params;
    }

    /**
     * @return keys that get decoupled weight decay ({@link ParamStore.Spec#decay}): the weights of
     *     Linear layers (and of the per-depth classifier); biases, LayerNorms, the condition
     *     embedding and the positional embeddings get none (the minGPT split)
     */
    public List<String> weightDecayKeys() {
        return params.trainableKeys().stream().filter(k -> params.spec(k).decay()).toList();
    }

    /**
     * Output of the teacher-forcing forward.
     *
     * @param logits [B, H, W, Dd, K]
     * @param condLogits [B, Lc−1, V_cond] next-condition-token logits, or null when Lc = 1
     */
    public record Output(NDArray logits, NDArray condLogits) {}

    /**
     * The full (teacher-forcing) forward pass.
     *
     * @param vae the frozen RQ-VAE providing code embeddings
     * @param codes [B, H, W, Dd] int64
     * @param cond [B] or [B, Lc] int64, or null (zeros)
     * @param dropout null in eval mode
     */
    public Output forward(RqVae vae, NDArray codes, NDArray cond, Dropout dropout) {
        Shape s = codes.getShape();
        long b = s.get(0);
        int t = config.positions();
        int dd = config.depth();
        int lc = config.condLength();
        checkCodes(s);
        NDArray emb = codeEmbedding(vae, codes); // [B, T, Dd, C]
        NDArray u = spatialTokens(emb, 0); // [B, T, D]
        NDArray x = condTokens(cond, b); // [B, Lc, D]
        if (t > 1) {
            x = NDArrays.concat(new NDList(x, u.get(new NDIndex().addAllDim().addSliceDim(0, t - 1))), 1);
        }
        if (dropout != null) {
            x = dropout.apply(x, config.embdPdrop());
        }
        NDArray h = body.forward(x, dropout, null); // [B, Lc+T-1, D]
        NDArray ctx = h.get(new NDIndex().addAllDim().addSliceDim(lc - 1, h.getShape().get(1))); // [B, T, D]
        NDArray depthIn = ctx.expandDims(2);
        if (dd > 1) {
            NDArray v = headMlp.forward(emb.get(new NDIndex().addAllDim(2).addSliceDim(0, dd - 1)).cumSum(2)); // [B, T, Dd-1, D]
            depthIn = NDArrays.concat(new NDList(depthIn, v), 2);
        }
        depthIn = depthIn.add(params.get(posD).expandDims(0)); // + [1, 1, Dd, D]
        NDArray hd = head.forward(depthIn.reshape(b * t, dd, config.embedDim()), dropout, null);
        NDArray logits = classify(hd.reshape(b, config.height(), config.width(), dd, config.embedDim()), -1);
        NDArray condLogits = null;
        if (condLinear != null) {
            condLogits = Kernels.toFloat32(condLinear.forward(condNorm.forward(h.get(new NDIndex().addAllDim().addSliceDim(0, lc - 1)))));
        }
        return new Output(logits, condLogits);
    }

    private void checkCodes(Shape s) {
        if (s.dimension() != 4 || s.get(1) != config.height() || s.get(2) != config.width() || s.get(3) != config.depth()) {
            throw new IllegalArgumentException("codes " + s + " must be [B, " + config.height() + ", " + config.width()
                    + ", " + config.depth() + "]");
        }
    }

    // ---- building blocks, also used by incremental sampling ----

    /**
     * Frozen code embeddings per depth.
     *
     * @param codes [B, n…, Dd] int64 (any positions layout)
     * @return [B, n, Dd, C] with n = product of the middle axes
     */
    public NDArray codeEmbedding(RqVae vae, NDArray codes) {
        Shape s = codes.getShape();
        long b = s.get(0);
        NDArray e = vae.codeEmbeddingWithDepth(codes).stopGradient();
        return e.reshape(b, -1, config.depth(), config.inputEmbedDim());
    }

    /**
     * Spatial-stack tokens of consecutive positions: {@code Σ_d input_mlp(E[t,d]) + pos_emb_hw[t]}
     * (the Linear applied per depth, then summed, as officially).
     *
     * @param emb [B, n, Dd, C] embeddings of positions first..first+n−1
     * @return [B, n, D]
     */
    public NDArray spatialTokens(NDArray emb, int first) {
        long n = emb.getShape().get(1);
        NDArray u = Kernels.toFloat32(inputMlp.forward(emb)).sum(new int[] {2});
        return u.add(params.get(posHw).get(new NDIndex().addAllDim().addSliceDim(first, first + n)));
    }

    /**
     * Condition tokens {@code cond_emb(c_j) + pos_emb_cond[j]}.
     *
     * @param cond [B] or [B, Lc] int64, or null (zeros)
     * @return [B, Lc, D]
     */
    public NDArray condTokens(NDArray cond, long batch) {
        int lc = config.condLength();
        NDManager m = params.get(condEmb).getManager();
        NDArray c;
        if (cond == null) {
            c = m.zeros(new Shape(batch, lc), DataType.INT64);
        } else {
            c = cond.getShape().dimension() == 1 ? cond.reshape(batch, 1) : cond;
            if (c.getShape().get(1) != lc) {
                throw new IllegalArgumentException("cond " + cond.getShape() + " must have " + lc + " tokens per sample");
            }
            if (c.getDataType() != DataType.INT64) {
                c = c.toType(DataType.INT64, false);
            }
        }
        NDArray e = JniUtils.embedding((PtNDArray) c, (PtNDArray) params.get(condEmb), false); // [B, Lc, D]
        return e.add(params.get(posCond));
    }

    /**
     * Runs the spatial stack over new positions.
     *
     * @param x [B, L, D]
     * @param cache null: x is the whole sequence; else appended after the cached positions
     */
    public NDArray bodyForward(NDArray x, KvCache cache) {
        return body.forward(x, null, cache);
    }

    /**
     * Runs the depth stack over new depth positions.
     *
     * @param x [N, L, D]
     * @param cache null: x is the whole depth sequence; else appended after the cached positions
     */
    public NDArray headForward(NDArray x, KvCache cache) {
        return head.forward(x, null, cache);
    }

    /**
     * The depth-stack input of depth {@code d} for one position: {@code ctx + pos_emb_d[0]} at d =
     * 0, else {@code head_mlp(Σ_{i<d} E[i]) + pos_emb_d[d]}.
     *
     * @param ctx [B, D] the spatial context of the position (used at d = 0)
     * @param partial [B, C] the sum of the position's code embeddings of depths &lt; d (used at d &gt; 0)
     * @return [B, 1, D]
     */
    public NDArray depthToken(NDArray ctx, NDArray partial, int d) {
        NDArray pos = params.get(posD).get(0).get(d); // [D]
        NDArray v = d == 0 ? ctx : headMlp.forward(partial);
        return v.add(pos).expandDims(1);
    }

    /**
     * The logits of depth {@code d} of one position during cached sampling: {@link #depthToken},
     * {@link #headForward} with {@code cache}, {@link #classify}. With a shared classifier, one
     * vocabulary for all depths and a fusable head (biases everywhere) this is one native call
     * ({@code Kernels.depthStep}: the same operators in the same order); {@code
     * -Drq.sample.fused_depth=false} (read at each call) keeps the separate calls, to compare.
     *
     * @param ctx [B, D] the position's spatial context (used at d = 0)
     * @param partial [B, C] the sum of the position's code embeddings of depths &lt; d (used at d &gt; 0)
     * @return [B, K] float32
     */
    public NDArray depthLogits(NDArray ctx, NDArray partial, int d, KvCache cache) {
        if (clsLinear != null && logitMask == null && head.layers() > 0 && head.fusedStep()
                && Switches.on("rq.sample.fused_depth")) {
            return head.depthStep(d == 0 ? ctx : partial, d, cache, () -> {
                NDList l = headMlp.computeTensors();
                l.add(params.get(posD));
                l.add(clsNorm.weight());
                l.add(clsNorm.bias());
                l.addAll(clsLinear.computeTensors());
                return l;
            });
        }
        NDArray tok = depthToken(ctx, partial, d);
        NDArray hd = headForward(tok, cache).squeeze(1); // [B, D]
        return classify(hd, d);
    }

    /**
     * Host copy of the frozen code embeddings: {@code table[d][k·C + c]} = vector of code k at
     * depth d (codes ≥ that depth's vocabulary are clamped).
     */
    public float[][] codeTable(RqVae vae) {
        int dd = config.depth();
        int k = config.maxVocab();
        long[] codes = new long[k * dd];
        for (int i = 0; i < k; i++) {
            for (int d = 0; d < dd; d++) {
                codes[i * dd + d] = Math.min(i, config.vocab(d) - 1);
            }
        }
        int c = config.inputEmbedDim();
        try (NDManager m = params.manager().newSubManager()) {
            float[] all = vae.codeEmbeddingWithDepth(Tensors.of(m, codes).reshape(k, dd)).toFloatArray(); // [K, Dd, C]
            float[][] table = new float[dd][k * c];
            for (int i = 0; i < k; i++) {
                for (int d = 0; d < dd; d++) {
                    System.arraycopy(all, (i * dd + d) * c, table[d], i * c, c);
                }
            }
            return table;
        }
    }

    /**
     * The classifier: LayerNorm → Linear (shared, or depth {@code d}'s BatchLinear slice) → logit
     * mask.
     *
     * @param h [..., Dd, D] with {@code d = -1}, or [..., D] for one depth {@code d}
     * @return logits [..., Dd, K] or [..., K]
     */
    public NDArray classify(NDArray h, int d) {
        NDArray x = clsNorm.forward(h);
        NDArray y;
        if (clsLinear != null) {
            y = Kernels.toFloat32(clsLinear.forward(x));
        } else if (d < 0) {
            NDArray w = params.get(batchWeight); // [Dd, D, K]
            y = x.expandDims(-2).matMul(w).squeeze(-2).add(params.get(batchBias));
        } else {
            NDArray w = params.get(batchWeight).get(d);
            y = x.matMul(w).add(params.get(batchBias).get(d));
        }
        if (logitMask != null) {
            y = y.add(d < 0 ? logitMask : logitMask.get(d));
        }
        return y;
    }

    @Override
    public void close() {
        params.close();
        if (rope != null) {
            rope.close();
        }
        if (logitMask != null) {
            logitMask.close();
        }
    }
}
