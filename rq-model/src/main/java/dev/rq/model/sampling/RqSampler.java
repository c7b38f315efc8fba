package dev.rq.model.sampling;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.config.SamplingConfig;
import dev.rq.model.config.TransformerConfig;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.nn.Tensors;
import dev.rq.model.transformer.KvCache;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.util.Rng;
import dev.rq.model.vae.RqVae;

/**
 * Batched autoregressive sampling of code stacks (official {@code RQTransformer.sample}, spec
 * §4.8): locations in raster order, depth innermost. With the cache (the default) the spatial
 * stack runs once per position on the newest token only, with a key/value cache over all earlier
 * positions, and the depth stack runs once per code with its own cache, reset at every position.
 * The uncached path re-evaluates the full teacher-forcing forward for every code (the reference
 * the cached path must match).
 *
 * <p>Randomness: row r draws one uniform per code from its own generator {@code rows[r]}, in
 * location order. {@link #rowGenerators} keys a row's generator by the sample's global index, so a
 * sample does not depend on the batch size or on how a job splits the samples.
 */
public final class RqSampler {

    private final RqTransformer model;
    private final RqVae vae;
    private final TransformerConfig c;

    public RqSampler(RqTransformer model, RqVae vae) {
        this.model = model;
        this.vae = vae;
        this.c = model.config();
        c.checkCompatible(vae.config());
    }

    /** @return generators for samples first..first+n−1 of a run seeded with {@code seed} */
    public static Rng[] rowGenerators(long seed, long first, int n) {
        Rng[] r = new Rng[n];
        for (int i = 0; i < n; i++) {
            r[i] = Rng.of(seed, 0x5a3b1e, first + i);
        }
        return r;
    }

    /**
     * Samples one code stack per row.
     *
     * <p>With {@link SamplingConfig#guided()} (classifier-free guidance, scale s) every step runs the
     * batch twice in one pass of 2B rows, rows B…2B−1 conditioned on the model's null class, and row
     * r draws its code from {@code u + s·(c − u)} (c, u its two rows' logits); both rows continue
     * with that code. Scale 1 is the plain conditional pass of B rows.
     *
     * @param cond per row: {@code cond[r]} (Lc = 1) or {@code cond[r·Lc … r·Lc+Lc−1]}; null = zeros
     *     (unconditional / start token); a model's null class samples unconditionally
     * @param rows one generator per row (the batch size)
     * @param cached use the key/value caches (false: full forward per code)
     * @return codes, row-major [B, H, W, Dd]
     * @throws IllegalArgumentException for a guidance scale on a model without a null class
     */
    public long[] sample(long[] cond, SamplingConfig s, Rng[] rows, boolean cached) {
        int b = rows.length;
        int lc = c.condLength();
        if (cond != null && cond.length != b * lc) {
            throw new IllegalArgumentException("cond has " + cond.length + " entries, expected " + b * lc);
        }
        for (int i = 0; cond != null && i < cond.length; i++) {
            if (cond[i] < 0 || cond[i] >= c.condEmbRows()) { // the null class included (unconditional samples)
                throw new IllegalArgumentException("cond " + cond[i] + " outside [0, " + c.condEmbRows() + ")");
            }
        }
        long[] all = cond;
        if (s.guided()) {
            if (!c.hasNullClass()) {
                throw new IllegalArgumentException("sampling.cfg_scale " + s.cfgScale() + " needs a model trained"
                        + " with model.cond_drop_prob > 0 (a null class); this model has none: use cfg_scale 1");
            }
            all = new long[2 * b]; // Lc = 1 (TransformerConfig): the classes, then the null class
            if (cond != null) {
                System.arraycopy(cond, 0, all, 0, b);
            }
            java.util.Arrays.fill(all, b, 2 * b, c.nullClass());
        }
        int run = all == null ? b : all.length / lc;
        NDManager root = model.params().manager();
        try (NDManager m = root.newSubManager(); ParamStore.Frozen f = model.params().freeze()) {
            NDArray condArr = all == null ? null : Tensors.of(m, all).reshape(run, lc);
            long[] codes = cached ? cached(m, condArr, s, rows, run) : uncached(m, condArr, s, rows, run);
            return run == b ? codes : java.util.Arrays.copyOf(codes, b * c.positions() * c.depth());
        }
    }

    /**
     * The logits row r draws from: its own ({@code run} = B) or the guided {@code u + s·(c − u)}
     * of rows r and r + B ({@code run} = 2B).
     *
     * @param logits [run, K]
     * @return [B, K]
     */
    static float[] guide(float[] logits, int b, int run, int k, double scale) {
        if (run == b) {
            return logits;
        }
        float[] g = new float[b * k];
        float sc = (float) scale;
        for (int i = 0; i < b * k; i++) {
            float u = logits[b * k + i];
            g[i] = u == Float.NEGATIVE_INFINITY ? u : u + sc * (logits[i] - u); // masked codes stay masked
        }
        return g;
    }

    private long[] cached(NDManager m, NDArray cond, SamplingConfig s, Rng[] rows, int run) {
        int b = rows.length;
        int t = c.positions();
        int dd = c.depth();
        int k = c.maxVocab();
        long[] codes = new long[run * t * dd];
        int ce = c.inputEmbedDim();
        float[][] table = model.codeTable(vae); // host copy of the frozen code embeddings
        float[] prevEmb = new float[run * dd * ce]; // embeddings of the previous position, [run, 1, Dd, C]
        float[] partial = new float[run * ce]; // Σ_{i<d} E[i] of the current position, [run, C]
        LogitSampler sampler = new LogitSampler(k);
        try (KvCache bodyCache = new KvCache(c.body().nLayer(), c.condLength() + t - 1);
                KvCache headCache = new KvCache(c.head().nLayer(), dd)) {
            for (int p = 0; p < t; p++) {
                try (NDScope scope = new NDScope()) {
                    NDArray x = p == 0 ? model.condTokens(cond, run)
                            : model.spatialTokens(Tensors.of(m, prevEmb, new Shape(run, 1, dd, ce)), p - 1); // [run, 1, D]
                    NDArray h = model.bodyForward(x, bodyCache);
                    long len = h.getShape().get(1);
                    NDArray ctx = h.get(new NDIndex().addAllDim().addIndices(len - 1)); // [run, D]
                    headCache.reset();
                    java.util.Arrays.fill(partial, 0f);
                    for (int d = 0; d < dd; d++) {
                        NDArray sum = d == 0 ? null : Tensors.of(m, partial, new Shape(run, ce));
                        float[] logits = guide(model.depthLogits(ctx, sum, d, headCache).toFloatArray(), b, run, k,
                                s.cfgScale()); // [B, K]
                        for (int r = 0; r < b; r++) {
                            int code = sampler.sample(logits, r, s.temperature(), s.topKAt(d), s.topPAt(d),
                                    rows[r].nextDouble());
                            for (int q = r; q < run; q += b) { // the row and, guided, its null-class twin
                                codes[(q * t + p) * dd + d] = code;
                                System.arraycopy(table[d], code * ce, prevEmb, (q * dd + d) * ce, ce);
                                for (int j = 0; j < ce; j++) {
                                    partial[q * ce + j] += table[d][code * ce + j];
                                }
                            }
                        }
                    }
                }
            }
        }
        return codes;
    }

    private long[] uncached(NDManager m, NDArray cond, SamplingConfig s, Rng[] rows, int run) {
        int b = rows.length;
        int t = c.positions();
        int dd = c.depth();
        int k = c.maxVocab();
        long[] codes = new long[run * t * dd];
        LogitSampler sampler = new LogitSampler(k);
        for (int p = 0; p < t; p++) {
            int hh = p / c.width();
            int ww = p % c.width();
            for (int d = 0; d < dd; d++) {
                try (NDScope scope = new NDScope()) {
                    NDArray all = Tensors.of(m, codes).reshape(run, c.height(), c.width(), dd);
                    NDArray logits = model.forward(vae, all, cond, null).logits()
                            .get(new NDIndex().addAllDim().addIndices(hh, ww, d)); // [run, K]
                    float[] l = guide(logits.toFloatArray(), b, run, k, s.cfgScale());
                    for (int r = 0; r < b; r++) {
                        int code = sampler.sample(l, r, s.temperature(), s.topKAt(d), s.topPAt(d),
                                rows[r].nextDouble());
                        for (int q = r; q < run; q += b) {
                            codes[(q * t + p) * dd + d] = code;
                        }
                    }
                }
            }
        }
        return codes;
    }

    /** @return codes as an int64 tensor [B, H, W, Dd] in {@code m} */
    public NDArray toTensor(NDManager m, long[] codes) {
        int per = c.positions() * c.depth();
        return Tensors.of(m, codes).reshape(new Shape(codes.length / per, c.height(), c.width(), c.depth()));
    }
}
