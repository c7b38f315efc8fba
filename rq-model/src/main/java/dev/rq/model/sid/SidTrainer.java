package dev.rq.model.sid;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.config.TrainConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.TensorData;
import dev.rq.model.train.Adam;
import dev.rq.model.train.GradientReduction;
import dev.rq.model.train.LrSchedule;
import dev.rq.model.util.Rng;
import java.util.List;
import java.util.Map;

/**
 * The data-parallel training step of the semantic-ID RQ-VAE: forward → loss → backward per
 * micro-batch, one deterministic all-reduce of the gradients and loss values ({@link
 * GradientReduction}), global-norm clipping, Adam ({@link Adam}, weight decay from {@code
 * train.weight_decay}). Code-usage counts and restarts become global inside the forward pass
 * through the same {@link Collective}, so N ranks with B/N items each step like one rank with B.
 *
 * <p>Built from the same parts as the image RQ-VAE's trainer; it moves onto the shared step loop
 * with a loss hook once that exists (issue #16.3).
 */
public final class SidTrainer {

    private final SidModel model;
    private final TrainConfig config;
    private final Collective collective;
    private final Map<String, NDArray> params;
    private final Adam adam;
    private final LrSchedule schedule;
    private final Rng restartRng;

    public SidTrainer(SidModel model, TrainConfig config, Collective collective) {
        this.model = model;
        this.config = config;
        this.collective = collective;
        this.params = model.params().trainable();
        NDManager m = model.params().manager();
        this.adam = new Adam(params, m, config.betas().get(0), config.betas().get(1), config.adamEps(),
                config.weightDecay(), false);
        this.schedule = LrSchedule.of(config);
        this.restartRng = Rng.of(config.seed(), 0x51d2e5L);
    }

    /**
     * What one optimizer step reports (global over all ranks).
     *
     * @param step optimizer step (1-based)
     * @param lr learning rate used
     * @param loss total loss
     * @param recon reconstruction MSE
     * @param codebook codebook loss (0 for EMA codebooks)
     * @param commit commitment loss
     * @param gradNorm global gradient norm before clipping
     * @param perplexity per level, exp(entropy) of this step's code histogram
     * @param usedFraction per level, fraction of codes used in this step
     * @param deadFraction codes re-seeded (or due) at the last lookup, mean over distinct codebooks
     * @param items items in the global batch
     * @param seconds wall time
     */
    public record Metrics(long step, double lr, double loss, double recon, double codebook, double commit,
            double gradNorm, double[] perplexity, double[] usedFraction, double deadFraction, int items,
            double seconds) {}

    /** @return optimizer steps taken */
    public long step() {
        return adam.step();
    }

    /**
     * One optimizer step over this rank's micro-batches.
     *
     * @param microBatches M arrays [b, input_dim], b = B/(N·M), in micro-step order
     */
    public Metrics step(List<NDArray> microBatches) {
        long t0 = System.nanoTime();
        if (microBatches.size() != config.gradAccumSteps()) {
            throw new IllegalArgumentException("expected " + config.gradAccumSteps() + " micro-batches, got "
                    + microBatches.size());
        }
        int depth = model.depth();
        double[][] counts = new double[depth][];
        float[] losses = new float[4];
        double lr = schedule.at(adam.step() + 1);
        double gradNorm;
        int local = 0;
        try (NDScope scope = new NDScope()) { // frees the step's activations and gradient copies
            for (NDArray x : microBatches) {
                local += (int) x.getShape().get(0);
                SidModel.Forward f;
                SidModel.LossTerms l;
                JniUtils.setGradMode(true);
                try {
                    f = model.forward(x, true, collective, restartRng);
                    l = model.loss(x, f);
                    PtNDArray total = (PtNDArray) l.total();
                    JniUtils.backward(total, (PtNDArray) total.onesLike(), false, false);
                } finally {
                    JniUtils.setGradMode(false);
                }
                losses[0] += l.total().getFloat();
                losses[1] += l.recon().getFloat();
                losses[2] += l.codebook() == null ? 0f : l.codebook().getFloat();
                losses[3] += l.commit().getFloat();
                for (int d = 0; d < depth; d++) {
                    float[] c = f.quantized().counts().get(d).toFloatArray();
                    counts[d] = counts[d] == null ? new double[c.length] : counts[d];
                    for (int k = 0; k < c.length; k++) {
                        counts[d][k] += c[k];
                    }
                }
            }
            Map<String, NDArray> grads = GradientReduction.reduce(params, losses, microBatches.size(), collective);
            gradNorm = GradientReduction.globalNorm(grads);
            GradientReduction.clip(grads, gradNorm, config.gradClipNorm());
            adam.update(params, grads, lr);
            params.values().forEach(p -> JniUtils.zeroGrad((PtNDArray) p));
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
        return new Metrics(adam.step(), lr, losses[0], losses[1], losses[2], losses[3], gradNorm, perplexity, used,
                model.deadFraction(), local * collective.worldSize(), (System.nanoTime() - t0) / 1e9);
    }

    /** @return optimizer moments (tensors written to a checkpoint as they are read) */
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
}
