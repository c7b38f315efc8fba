package dev.rq.model.sid;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import dev.rq.model.config.QuantizerConfig;
import dev.rq.model.config.SidModelConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.quantizer.GradientResidualQuantizer;
import dev.rq.model.quantizer.ResidualQuantizer;
import dev.rq.model.quantizer.VqCodebook;
import dev.rq.model.util.Rng;
import java.util.ArrayList;
import java.util.List;

/**
 * The residual levels of a {@link SidModel}: EMA codebooks (the image RQ-VAE's {@link
 * ResidualQuantizer} on [N, 1, 1, C]) or gradient-trained ones ({@link GradientResidualQuantizer}),
 * chosen by {@code model.codebook_update}. Shapes: z [N, C], codes [N, D].
 */
interface Levels {

    /**
     * A quantization.
     *
     * @param zq [N, C] straight-through output
     * @param codebookLoss scalar codebook loss (gradient codebooks), null for EMA codebooks
     * @param commitLoss scalar commitment loss (β applied by the model)
     * @param codes [N, D] int64
     * @param counts per level [K] global counts (training), else null entries
     */
    record Quantized(NDArray zq, NDArray codebookLoss, NDArray commitLoss, NDArray codes, List<NDArray> counts) {}

    /**
     * Quantizes micro-batches jointly: every level searches each micro-batch on its own, with one
     * restart and one usage (EMA) update per level from the counts of all of them over all ranks.
     *
     * @param zs per micro-batch z [n_i, C], in global order
     * @return per micro-batch results; their {@code counts} are the same global list
     */
    List<Quantized> quantize(List<NDArray> zs, boolean training, Collective collective, Rng rng);

    /** @return codes [N, D] of z (no update) */
    NDArray codes(NDArray z);

    /** Rows per chunk of {@link #codesByRows}: a [1024, 256] float32 distance matrix is 1 MiB, an L2 cache. */
    int CODE_ROWS = 1024;

    /**
     * {@link #codes} a chunk of {@code rows} rows at a time: each row goes through the same operators
     * ({@link #nearest}, the residual minus {@link #embed}) as in {@link #codes}, so the codes are the
     * same (checked bit for bit: {@code SidModelTest}, and the 250,000-item ID tables of {@code
     * scripts/SidAssignAb.java}), but the [rows, K] distance matrices and their element-wise passes stay
     * in cache instead of streaming [N, K] through memory four times per level (float32: 5.2–6.2 →
     * 3.1–3.9 µs per item on a 4,096-item batch, one thread).
     *
     * @param z [N, C]
     * @return codes [N, D] int64
     */
    static NDArray codesByRows(Levels levels, int depth, NDArray z, int rows) {
        long n = z.getShape().get(0);
        if (n <= rows) {
            return levels.codes(z);
        }
        ai.djl.ndarray.NDList parts = new ai.djl.ndarray.NDList();
        for (long s = 0; s < n; s += rows) {
            NDArray r = z.get(new NDIndex(s + ":" + Math.min(n, s + rows))); // [rows, C]
            ai.djl.ndarray.NDList codes = new ai.djl.ndarray.NDList();
            for (int d = 0; d < depth; d++) {
                NDArray idx = levels.nearest(d, r); // [rows]
                if (d + 1 < depth) {
                    r = r.sub(levels.embed(d, idx));
                }
                codes.add(idx.reshape(-1, 1));
            }
            parts.add(ai.djl.ndarray.NDArrays.concat(codes, 1));
        }
        return ai.djl.ndarray.NDArrays.concat(parts, 0);
    }

    /** @return Σ_d code vectors [N, C] */
    NDArray embedCodes(NDArray codes);

    /** @return level d's nearest codes [N] of residuals r [N, C] */
    NDArray nearest(int d, NDArray r);

    /** @return level d's code vectors [N, C] of idx [N] */
    NDArray embed(int d, NDArray idx);

    /** Sets level d's codebook from centroids [K, C] with initial usage counts [K]. */
    void init(int d, float[] centroids, float[] counts);

    /** @return level d's codebook [K, C] row-major */
    float[] codebook(int d);

    /** @return the dead-code fraction of the last training call, averaged over distinct codebooks */
    double deadFraction();

    /** @return the levels of {@code c} declared in {@code ps} under {@code quantizer.} */
    static Levels of(ParamStore ps, SidModelConfig c) {
        return c.codebookUpdate().equals("ema") ? new Ema(ps, c) : new Gradient(ps, c);
    }

    /** EMA codebooks. */
    final class Ema implements Levels {
        private final ResidualQuantizer q;
        private final int dim;
        private final boolean shared;

        Ema(ParamStore ps, SidModelConfig c) {
            this.dim = c.latentDim();
            this.shared = c.sharedCodebook();
            List<Integer> ks = new ArrayList<>(c.codebookSize());
            this.q = new ResidualQuantizer(ps, new QuantizerConfig(dim, ks, List.of(c.decay()), "mse",
                    c.commitmentWeight(), "rq", List.of(1, 1, dim), List.of(1, 1, c.depth()), c.sharedCodebook(),
                    c.restartUnusedCodes(), null, null, null, false));
        }

        void initBuffers() {
            q.initBuffers();
        }

        @Override
        public List<Quantized> quantize(List<NDArray> zs, boolean training, Collective collective, Rng rng) {
            List<NDArray> in = new ArrayList<>(zs.size());
            for (NDArray z : zs) {
                in.add(z.reshape(z.getShape().get(0), 1, 1, dim));
            }
            List<ResidualQuantizer.Quantized> rs = q.quantize(in, training, collective, rng);
            List<Quantized> out = new ArrayList<>(zs.size());
            for (int i = 0; i < zs.size(); i++) {
                ResidualQuantizer.Quantized r = rs.get(i);
                long n = zs.get(i).getShape().get(0);
                out.add(new Quantized(r.zq().reshape(n, dim), null, r.commitLoss(), r.codes().reshape(n, q.depth()),
                        r.counts()));
            }
            return out;
        }

        @Override
        public NDArray codes(NDArray z) {
            long n = z.getShape().get(0);
            return q.quantize(z.reshape(n, 1, 1, dim), false, Collective.local(), null).codes().reshape(n, q.depth());
        }

        @Override
        public NDArray embedCodes(NDArray codes) {
            return q.embedCode(codes.reshape(codes.getShape().get(0), 1, 1, q.depth())).reshape(-1, dim);
        }

        @Override
        public NDArray nearest(int d, NDArray r) {
            return q.codebook(d).nearest(r);
        }

        @Override
        public NDArray embed(int d, NDArray idx) {
            return q.codebook(d).embed(idx);
        }

        @Override
        public void init(int d, float[] centroids, float[] counts) {
            q.codebook(d).initFrom(centroids, counts);
        }

        @Override
        public float[] codebook(int d) {
            VqCodebook cb = q.codebook(d);
            return cb.weight().get(new NDIndex("0:" + cb.size())).toFloatArray(); // without the padding row
        }

        @Override
        public double deadFraction() {
            return shared ? q.codebook(0).lastDeadFraction()
                    : java.util.stream.IntStream.range(0, q.depth()).mapToDouble(d -> q.codebook(d).lastDeadFraction())
                            .average().orElse(0);
        }
    }

    /** Gradient-trained codebooks. */
    final class Gradient implements Levels {
        private final GradientResidualQuantizer q;
        private final boolean shared;

        Gradient(ParamStore ps, SidModelConfig c) {
            this.shared = c.sharedCodebook();
            this.q = new GradientResidualQuantizer(ps, "quantizer", c.codebookSizes(), c.latentDim(), shared, c.decay(),
                    c.restartUnusedCodes());
        }

        @Override
        public List<Quantized> quantize(List<NDArray> zs, boolean training, Collective collective, Rng rng) {
            List<Quantized> out = new ArrayList<>(zs.size());
            for (GradientResidualQuantizer.Quantized r : q.quantize(zs, training, collective, rng)) {
                out.add(new Quantized(r.zq(), r.codebookLoss(), r.commitLoss(), r.codes(), r.counts()));
            }
            return out;
        }

        @Override
        public NDArray codes(NDArray z) {
            return q.codes(z);
        }

        @Override
        public NDArray embedCodes(NDArray codes) {
            return q.embedCodes(codes);
        }

        @Override
        public NDArray nearest(int d, NDArray r) {
            return q.codebook(d).nearest(r);
        }

        @Override
        public NDArray embed(int d, NDArray idx) {
            return q.codebook(d).weight().stopGradient().get(new NDIndex("{}", idx));
        }

        @Override
        public void init(int d, float[] centroids, float[] counts) {
            q.codebook(d).initFrom(centroids, counts);
        }

        @Override
        public float[] codebook(int d) {
            return q.codebook(d).weight().toFloatArray();
        }

        @Override
        public double deadFraction() {
            return shared ? q.codebook(0).lastDeadFraction()
                    : java.util.stream.IntStream.range(0, q.depth()).mapToDouble(d -> q.codebook(d).lastDeadFraction())
                            .average().orElse(0);
        }
    }
}
