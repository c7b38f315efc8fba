package dev.rq.model.quantizer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.config.QuantizerConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.nn.Ops;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.nn.Tensors;
import dev.rq.model.util.Rng;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Residual quantizer ({@code RQBottleneck}, spec §2.7–2.11): D codebook lookups on successive
 * residuals, the cumulative commitment loss and the straight-through estimator.
 *
 * <pre>
 * r = sg(x); agg = 0
 * for d in 0..D−1:  e, k = codebook_d(r);  r -= e;  agg += e;  partial[d] = agg
 * commit = mean_d mean((x − sg(partial[d]))²)
 * z_q = x + sg(agg − x)
 * </pre>
 *
 * With a shared codebook one {@link VqCodebook} serves every depth (and, in training, is updated
 * once per depth, as in the official code).
 */
public final class ResidualQuantizer {

    private final QuantizerConfig config;
    private final List<VqCodebook> codebooks = new ArrayList<>(); // one per depth (same object if shared)
    private final int dim;

    public ResidualQuantizer(ParamStore ps, QuantizerConfig config) {
        this.config = config;
        this.dim = config.embedDim();
        for (int d = 0; d < config.depth(); d++) {
            if (config.sharedCodebook() && d > 0) {
                codebooks.add(codebooks.get(0));
            } else {
                codebooks.add(new VqCodebook(ps, "quantizer.codebooks." + d, config.codebookSize(d), dim,
                        config.decayOf(d), config.eps(), config.restartUnusedCodes(),
                        config.restartThreshold()));
            }
        }
    }

    /** Completes random initialisation of the codebooks. */
    public void initBuffers() {
        distinct().forEach(VqCodebook::initBuffers);
    }

    /** @return the codebook used at depth d */
    public VqCodebook codebook(int d) {
        return codebooks.get(d);
    }

    /** @return code depth D */
    public int depth() {
        return codebooks.size();
    }

    private List<VqCodebook> distinct() {
        return codebooks.stream().distinct().toList();
    }

    /**
     * Result of quantization.
     *
     * @param zq [B, h, w, C] straight-through quantized latent
     * @param commitLoss scalar cumulative commitment loss
     * @param codes [B, h, w, D] int64
     * @param counts per depth, [K_d] float global assignment counts of this call (training only;
     *     entries are null in eval mode)
     */
    public record Quantized(NDArray zq, NDArray commitLoss, NDArray codes, List<NDArray> counts) {}

    /**
     * Quantizes x (one micro-batch).
     *
     * @param x [B, h, w, C] encoder output (un-detached: the commitment loss and the straight-through
     *     output carry its gradient)
     * @param training run the EMA updates (and restarts)
     * @param collective makes EMA statistics global in data-parallel training
     * @param rng restart draws (used only in training)
     */
    public Quantized quantize(NDArray x, boolean training, Collective collective, Rng rng) {
        return quantize(List.of(x), training, collective, rng).get(0);
    }

    /**
     * Quantizes this rank's micro-batches jointly: at every depth each micro-batch is searched on
     * its own, then one EMA update (and restart) uses the statistics of all of them and of all
     * ranks (see {@link VqCodebook}), so depth d+1 of every micro-batch searches the codebook
     * updated with the whole accumulation step, as one rank quantizing everything at once would.
     *
     * @param xs per micro-batch [b, h, w, C] encoder outputs, in global order
     * @return per micro-batch results; their {@code counts} are the same global list
     */
    public List<Quantized> quantize(List<NDArray> xs, boolean training, Collective collective, Rng rng) {
        int parts = xs.size();
        List<NDArray> residual = new ArrayList<>(parts);
        List<NDArray> agg = new ArrayList<>(parts);
        List<NDList> codes = new ArrayList<>(parts);
        List<NDArray> commit = new ArrayList<>(parts);
        for (NDArray x : xs) {
            Shape s = x.getShape();
            residual.add(x.stopGradient().reshape(s.get(0) * s.get(1) * s.get(2), dim)); // [n, C]
            agg.add(null);
            codes.add(new NDList());
            commit.add(null);
        }
        List<NDArray> counts = new ArrayList<>();
        for (VqCodebook cb : codebooks) {
            VqCodebook.Lookups l = cb.lookup(residual, training, collective, rng);
            counts.add(l.counts());
            for (int i = 0; i < parts; i++) {
                NDArray x = xs.get(i);
                Shape s = x.getShape();
                NDArray e = l.parts().get(i).embeds();
                residual.set(i, residual.get(i).sub(e));
                agg.set(i, agg.get(i) == null ? e : agg.get(i).add(e));
                codes.get(i).add(l.parts().get(i).idx().reshape(s.get(0), s.get(1), s.get(2), 1));
                NDArray term = x.sub(agg.get(i).reshape(s).stopGradient()).square().mean(); // scalar
                commit.set(i, commit.get(i) == null ? term : commit.get(i).add(term));
            }
        }
        List<Quantized> out = new ArrayList<>(parts);
        for (int i = 0; i < parts; i++) {
            NDArray x = xs.get(i);
            NDArray zq = x.add(agg.get(i).reshape(x.getShape()).sub(x).stopGradient()); // straight-through
            out.add(new Quantized(zq, Ops.scale(commit.get(i), 1f / codebooks.size()),
                    NDArrays.concat(codes.get(i), 3), counts));
        }
        return out;
    }

    /**
     * Codes only, in eval mode: the codes of {@code quantize(x, false, …)} (the same operators on the
     * residual path, so the same bits) without its straight-through output, commitment loss and the
     * last depth's residual, which tokenizing does not use.
     *
     * @param x [B, h, w, C] encoder output
     * @return [B, h, w, D] int64
     */
    public NDArray codes(NDArray x) {
        Shape s = x.getShape();
        NDArray residual = x.stopGradient().reshape(s.get(0) * s.get(1) * s.get(2), dim); // [n, C]
        NDList codes = new NDList();
        for (int d = 0; d < codebooks.size(); d++) {
            VqCodebook cb = codebooks.get(d);
            NDArray idx = cb.nearest(residual); // [n]
            if (d + 1 < codebooks.size()) {
                residual = residual.sub(cb.embed(idx));
            }
            codes.add(idx.reshape(s.get(0), s.get(1), s.get(2), 1));
        }
        return NDArrays.concat(codes, 3);
    }

    /**
     * Sum of the code vectors over depth.
     *
     * @param codes [B, h, w, D] int64
     * @return [B, h, w, C]
     */
    public NDArray embedCode(NDArray codes) {
        return embedCodeWithDepth(codes).sum(new int[] {-2});
    }

    /**
     * Code vectors per depth, not summed.
     *
     * @param codes [..., D] int64 (any leading shape)
     * @return [..., D, C]
     */
    public NDArray embedCodeWithDepth(NDArray codes) {
        int depthAxis = codes.getShape().dimension() - 1;
        if (codes.getShape().get(depthAxis) != depth()) {
            throw new IllegalArgumentException("codes " + codes.getShape() + " must end with depth " + depth());
        }
        NDList per = new NDList();
        for (int d = 0; d < depth(); d++) {
            NDArray cd = codes.get(new NDIndex("..., " + d)); // [...]
            per.add(codebooks.get(d).embed(cd).expandDims(depthAxis)); // [..., 1, C]
        }
        return NDArrays.concat(per, depthAxis);
    }

    /**
     * Partial code embedding (official {@code embed_partial_code}).
     *
     * @param codes [B, h, w, D]
     * @param depthIndex 0-based depth
     * @param add true: sum of depths 0..depthIndex (coarse-to-fine); false: only that depth
     * @return [B, h, w, C]
     */
    public NDArray embedPartialCode(NDArray codes, int depthIndex, boolean add) {
        NDArray perDepth = embedCodeWithDepth(codes); // [B, h, w, D, C]
        if (add) {
            return perDepth.get(new NDIndex("..., 0:" + (depthIndex + 1) + ", :")).sum(new int[] {-2});
        }
        return perDepth.get(new NDIndex("..., " + depthIndex + ", :"));
    }

    /**
     * Soft codes for stage-2 targets (official {@code get_soft_codes}): per depth, the softmax over
     * the K real codes of −distance/temperature, along the residual path of the chosen codes
     * (argmin, or a sample from the soft code when {@code stochastic}).
     *
     * @param x [B, h, w, C]
     * @param rng draws for stochastic codes (unused otherwise)
     * @return soft codes [B, h, w, D, K] and codes [B, h, w, D]
     */
    public NDList softCodes(NDArray x, double temperature, boolean stochastic, Rng rng) {
        Shape s = x.getShape();
        long n = s.get(0) * s.get(1) * s.get(2);
        NDArray residual = x.reshape(n, dim);
        NDList soft = new NDList();
        NDList codes = new NDList();
        for (VqCodebook cb : codebooks) {
            NDArray p = cb.distances(residual).neg().div((float) temperature).softmax(1); // [N, K]
            NDArray idx = stochastic ? sample(p, rng) : cb.nearest(residual);
            residual = residual.sub(cb.embed(idx));
            soft.add(p.reshape(s.get(0), s.get(1), s.get(2), 1, cb.size()));
            codes.add(idx.reshape(s.get(0), s.get(1), s.get(2), 1));
        }
        return new NDList(NDArrays.concat(soft, 3), NDArrays.concat(codes, 3));
    }

    private static NDArray sample(NDArray probs, Rng rng) {
        float[] p = probs.toFloatArray();
        int k = (int) probs.getShape().get(1);
        int rows = (int) probs.getShape().get(0);
        long[] out = new long[rows];
        for (int r = 0; r < rows; r++) {
            double u = rng.nextDouble();
            double acc = 0;
            int pick = k - 1;
            for (int j = 0; j < k; j++) {
                acc += p[r * k + j];
                if (u < acc) {
                    pick = j;
                    break;
                }
            }
            out[r] = pick;
        }
        return Tensors.of(probs.getManager(), out);
    }

    /**
     * Official state-dict entries of the quantizer: a shared codebook is written once per depth
     * under identical tensors, as the official {@code state_dict()} does.
     */
    public <T> Map<String, T> officialState(Map<String, T> internal) {
        Map<String, T> out = new LinkedHashMap<>();
        for (int d = 0; d < depth(); d++) {
            int src = config.sharedCodebook() ? 0 : d;
            for (String t : List.of("weight", "cluster_size_ema", "embed_ema")) {
                out.put("quantizer.codebooks." + d + "." + t, internal.get("quantizer.codebooks." + src + "." + t));
            }
        }
        return out;
    }

    /** Helpers over DJL's concat. */
    private static final class NDArrays {
        static NDArray concat(NDList list, int axis) {
            return list.size() == 1 ? list.get(0) : ai.djl.ndarray.NDArrays.concat(list, axis);
        }
    }
}
