package dev.rq.model.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.config.TrainConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.TensorData;
import dev.rq.model.safetensors.TensorSource;
import dev.rq.model.quantizer.ResidualQuantizer;
import dev.rq.model.util.Rng;
import dev.rq.model.vae.RqVae;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The per-worker RQ-VAE training step that the Spark trainer drives (and that runs alone in one
 * process): forward → loss → backward per micro-batch, one all-reduce of the gradients (and loss
 * values), global-norm clipping, Adam. The codebook EMA statistics become global inside the
 * forward pass through the same {@link Collective}.
 *
 * <p>Exactness: the global batch B is M accumulation steps of B/M images, each cut into
 * micro-batches of g = {@code train.micro_batch_size} images; rank r of N takes the r-th
 * contiguous share of every accumulation step's micro-batches. A micro-batch's forward and
 * backward are the same computation for every N, and gradients, loss values and codebook
 * statistics are added in an N-independent order ({@link GradientAccumulator}, {@link
 * dev.rq.model.distributed.TreeSum}), so N = 1 and N = 2 produce bit-identical models (for larger
 * N the ring all-reduce's fold differs from the tree only by float rounding). The all-reduce is
 * deterministic, so all ranks apply bit-identical updates.
 */
public final class VaeTrainer {

    private final RqVae model;
    private final TrainConfig config;
    private final Collective collective;
    private final Map<String, NDArray> params;
    private final Adam adam;
    private final LrSchedule schedule;
    private final Rng restartRng;

    public VaeTrainer(RqVae model, TrainConfig config, Collective collective) {
        this.model = model;
        this.config = config;
        this.collective = collective;
        this.params = model.params().trainable();
        NDManager m = model.params().manager();
        this.adam = new Adam(params, m, config.betas().get(0), config.betas().get(1), config.adamEps(),
                config.weightDecay(), false);
        this.schedule = LrSchedule.of(config);
        this.restartRng = Rng.of(config.seed(), 0x2e57a27L);
    }

    /** @return optimizer steps taken */
    public long step() {
        return adam.step();
    }

    /** @return the model being trained */
    public RqVae model() {
        return model;
    }

    /**
     * One optimizer step over this rank's share of every accumulation step.
     *
     * <p>Per accumulation step: the share is cut into micro-batches of {@code
     * train.micro_batch_size} images (fresh libtorch copies, so every micro-batch's computation is
     * the same bits wherever its images came from); each is encoded, all are quantized jointly
     * (one EMA update per depth with the statistics of the whole accumulation step over all
     * ranks), then each is decoded and back-propagated on its own. Gradients and statistics are
     * summed by a {@link GradientAccumulator} and reduced over ranks, divided by the number of
     * micro-batches G of the step.
     *
     * @param shares M arrays [L·g, 3, R, R] in [−1, 1]: this rank's contiguous share of each
     *     accumulation step (g = micro_batch_size, L = micro-batches per rank), in order
     */
    public StepMetrics step(List<NDArray> shares) {
        long t0 = System.nanoTime();
        int m = shares.size();
        if (m != config.gradAccumSteps()) {
            throw new IllegalArgumentException("expected " + config.gradAccumSteps() + " accumulation steps, got " + m);
        }
        int g = config.microBatchSize();
        int slots = Math.toIntExact(shares.get(0).getShape().get(0) / g);
        if (slots * g != shares.get(0).getShape().get(0)
                || slots * collective.worldSize() != config.microBatchesPerAccumulation()) {
            throw new IllegalArgumentException("a share of " + shares.get(0).getShape().get(0) + " images is not "
                    + config.microBatchesPerAccumulation() + "/" + collective.worldSize() + " micro-batches of " + g);
        }
        int depth = model.quantizer().depth();
        double[][] counts = new double[depth][];
        double lr = schedule.at(adam.step() + 1);
        double gradNorm;
        float[] losses;
        int localImages = 0;
        long fwd = 0;
        long bwd = 0;
        long red;
        long opt;
        try (NDScope scope = new NDScope()) {
            GradientAccumulator acc = new GradientAccumulator(params, slots, 3);
            for (NDArray share : shares) {
                localImages += (int) share.getShape().get(0);
                List<NDArray> micro = new ArrayList<>(slots);
                for (int j = 0; j < slots; j++) {
                    micro.add(share.get(j * g + ":" + (j + 1) * g).duplicate());
                }
                List<ResidualQuantizer.Quantized> q;
                long a = System.nanoTime();
                JniUtils.setGradMode(true);
                try {
                    List<NDArray> ze = new ArrayList<>(slots);
                    for (NDArray x : micro) {
                        ze.add(model.encode(x, true));
                    }
                    q = model.quantizer().quantize(ze, true, collective, restartRng);
                    fwd += System.nanoTime() - a;
                    for (int j = 0; j < slots; j++) {
                        long b = System.nanoTime();
                        NDArray x = micro.get(j);
                        RqVae.Forward f = new RqVae.Forward(ze.get(j), q.get(j), model.decode(q.get(j).zq(), true));
                        RqVae.LossTerms l = model.loss(x, f);
                        long c = System.nanoTime();
                        PtNDArray total = (PtNDArray) l.total();
                        JniUtils.backward(total, (PtNDArray) total.onesLike(), false, false);
                        fwd += c - b;
                        bwd += System.nanoTime() - c;
                        acc.collect(j, new float[] {l.total().getFloat(), l.recon().getFloat(), l.commit().getFloat()});
                    }
                } finally {
                    JniUtils.setGradMode(false);
                }
                for (int d = 0; d < depth; d++) {
                    float[] c = q.get(0).counts().get(d).toFloatArray();
                    if (counts[d] == null) {
                        counts[d] = new double[c.length];
                    }
                    for (int k = 0; k < c.length; k++) {
                        counts[d][k] += c[k];
                    }
                }
            }
            long a = System.nanoTime();
            losses = acc.stats();
            Map<String, NDArray> grads = GradientReduction.reduce(acc.gradients(), losses,
                    config.microBatchesPerStep(), collective);
            long b = System.nanoTime();
            red = b - a;
            gradNorm = GradientReduction.globalNorm(grads);
            GradientReduction.clip(grads, gradNorm, config.gradClipNorm());
            adam.update(params, grads, lr);
            params.values().forEach(p -> JniUtils.zeroGrad((PtNDArray) p));
            opt = System.nanoTime() - b;
        }
        double[] perplexity = new double[depth];
        double[] used = new double[depth];
        for (int d = 0; d < depth; d++) {
            double total = 0;
            for (double c : counts[d]) {
                total += c;
            }
            double h = 0;
            int nonzero = 0;
            for (double c : counts[d]) {
                if (c > 0) {
                    h -= c / total * Math.log(c / total);
                    nonzero++;
                }
            }
            perplexity[d] = Math.exp(h);
            used[d] = nonzero / (double) counts[d].length;
        }
        double dead = 0;
        List<Object> seen = new ArrayList<>();
        for (int d = 0; d < depth; d++) {
            var cb = model.quantizer().codebook(d);
            if (!seen.contains(cb)) {
                seen.add(cb);
                dead += cb.lastDeadFraction();
            }
        }
        return new StepMetrics(adam.step(), lr, losses[0], losses[1], losses[2], gradNorm, perplexity, used,
                dead / seen.size(), localImages * collective.worldSize(), (System.nanoTime() - t0) / 1e9,
                new StepMetrics.Timings(fwd / 1e9, bwd / 1e9, red / 1e9, opt / 1e9));
    }

    /** @return optimizer moments as views, copied to the host one at a time when written ({@link Adam#state()}) */
    public Map<String, TensorData> optimizerState() {
        return adam.state();
    }

    /** @return the restart generator's state */
    public long rngState() {
        return restartRng.state();
    }

    /** Restores optimizer moments, step count and the restart generator (for resuming). */
    public void restore(Map<String, HostTensor> optimizer, long step, long rngState) {
        adam.load(optimizer, step);
        restartRng.setState(rngState);
    }

    /** As {@link #restore(Map, long, long)}, streaming the moments one tensor at a time. */
    public void restore(TensorSource optimizer, long step, long rngState) throws java.io.IOException {
        Adam.restore(optimizer, step, adam);
        restartRng.setState(rngState);
    }
}
