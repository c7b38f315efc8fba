package dev.rq.model.quantizer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import dev.rq.model.distributed.Collective;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.util.Rng;
import java.util.ArrayList;
import java.util.List;

/**
 * Residual quantization of vectors with gradient-trained codebooks ({@link GradientCodebook}), the
 * RQ-VAE of TIGER (Rajput et al., "Recommender Systems with Generative Retrieval", NeurIPS 2023,
 * §3.1):
 *
 * <pre>
 * r_0 = z
 * for d in 0..D−1:  k_d = argmin_k ‖r_d − e_k‖;  e_d = E_d[k_d]
 *                   codebook += mean((sg(r_d) − e_d)²);  commit += mean((r_d − sg(e_d))²)
 *                   r_{d+1} = r_d − sg(e_d)
 * z_q = z + sg(Σ_d e_d − z)                                  (straight-through)
 * </pre>
 *
 * The codebook term trains the codes, the commitment term (weighted by β outside) pulls the
 * encoder towards them at every level. With a shared codebook one {@link GradientCodebook} serves
 * every level. Shapes: z [N, C], codes [N, D].
 */
public final class GradientResidualQuantizer {

    private final List<GradientCodebook> codebooks = new ArrayList<>(); // one per level (same object if shared)

    /**
     * @param prefix key prefix, e.g. {@code quantizer} (codebooks under {@code <prefix>.codebooks.<d>})
     * @param sizes K per level
     * @param dim C
     * @param decay usage-count decay
     * @param restart re-seed codes whose usage drops below 1
     */
    public GradientResidualQuantizer(ParamStore ps, String prefix, int[] sizes, int dim, boolean shared, double decay,
            boolean restart) {
        for (int d = 0; d < sizes.length; d++) {
            codebooks.add(shared && d > 0 ? codebooks.get(0)
                    : new GradientCodebook(ps, prefix + ".codebooks." + d, sizes[d], dim, decay, restart));
        }
    }

    /** @return the codebook of level {@code d} */
    public GradientCodebook codebook(int d) {
        return codebooks.get(d);
    }

    /** @return D */
    public int depth() {
        return codebooks.size();
    }

    /**
     * Result of quantization.
     *
     * @param zq [N, C] straight-through quantized vectors
     * @param codebookLoss scalar Σ_d mean((sg(r_d) − e_d)²)
     * @param commitLoss scalar Σ_d mean((r_d − sg(e_d))²)
     * @param codes [N, D] int64
     * @param counts per level, [K_d] global counts of this call (training), else null entries
     */
    public record Quantized(NDArray zq, NDArray codebookLoss, NDArray commitLoss, NDArray codes, List<NDArray> counts) {}

    /**
     * Quantizes z (one micro-batch).
     *
     * @param z [N, C] encoder output (carries the encoder's gradient)
     * @param training restarts and usage updates
     */
    public Quantized quantize(NDArray z, boolean training, Collective collective, Rng rng) {
        return quantize(List.of(z), training, collective, rng).get(0);
    }

    /**
     * Quantizes this rank's micro-batches jointly: at every level each micro-batch is searched on
     * its own (the same computation whatever the number of ranks), after one restart and before
     * one usage update with the statistics of all of them on all ranks ({@link GradientCodebook}).
     *
     * @param zs per micro-batch [n_i, C] encoder outputs, in global order
     * @return per micro-batch results; their {@code counts} are the same global list
     */
    public List<Quantized> quantize(List<NDArray> zs, boolean training, Collective collective, Rng rng) {
        int parts = zs.size();
        List<NDArray> r = new ArrayList<>(zs);
        NDArray[] agg = new NDArray[parts];
        NDArray[] codebookLoss = new NDArray[parts];
        NDArray[] commitLoss = new NDArray[parts];
        List<NDList> codes = new ArrayList<>(parts);
        for (int i = 0; i < parts; i++) {
            codes.add(new NDList());
        }
        List<NDArray> counts = new ArrayList<>();
        for (GradientCodebook cb : codebooks) {
            List<NDArray> rd = new ArrayList<>(parts);
            for (NDArray x : r) {
                rd.add(x.stopGradient());
            }
            GradientCodebook.Lookups l = cb.lookup(rd, training, collective, rng);
            counts.add(l.counts());
            for (int i = 0; i < parts; i++) {
                NDArray e = cb.embed(l.idx().get(i)); // [n, C], gradient to the codebook
                NDArray es = e.stopGradient();
                NDArray cbTerm = rd.get(i).sub(e).square().mean();
                NDArray commitTerm = r.get(i).sub(es).square().mean();
                codebookLoss[i] = codebookLoss[i] == null ? cbTerm : codebookLoss[i].add(cbTerm);
                commitLoss[i] = commitLoss[i] == null ? commitTerm : commitLoss[i].add(commitTerm);
                agg[i] = agg[i] == null ? es : agg[i].add(es);
                r.set(i, r.get(i).sub(es));
                codes.get(i).add(l.idx().get(i).reshape(-1, 1));
            }
        }
        List<Quantized> out = new ArrayList<>(parts);
        for (int i = 0; i < parts; i++) {
            NDArray z = zs.get(i);
            NDArray zq = z.add(agg[i].sub(z).stopGradient()); // straight-through: forward Σ e_d, gradient to z
            NDList c = codes.get(i);
            out.add(new Quantized(zq, codebookLoss[i], commitLoss[i], c.size() == 1 ? c.get(0) : NDArrays.concat(c, 1),
                    counts));
        }
        return out;
    }

    /**
     * Codes of vectors (no gradient, no update).
     *
     * @param z [N, C]
     * @return [N, D] int64
     */
    public NDArray codes(NDArray z) {
        NDArray r = z;
        NDList codes = new NDList();
        for (GradientCodebook cb : codebooks) {
            NDArray idx = cb.nearest(r);
            r = r.sub(cb.embed(idx).stopGradient());
            codes.add(idx.reshape(-1, 1));
        }
        return codes.size() == 1 ? codes.get(0) : NDArrays.concat(codes, 1);
    }

    /**
     * Sum of the code vectors over levels.
     *
     * @param codes [N, D] int64
     * @return [N, C]
     */
    public NDArray embedCodes(NDArray codes) {
        NDArray sum = null;
        for (int d = 0; d < depth(); d++) {
            NDArray e = codebooks.get(d).embed(codes.get(":, " + d)).stopGradient();
            sum = sum == null ? e : sum.add(e);
        }
        return sum;
    }
}
