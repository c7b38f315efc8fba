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
 * <p>Exactness: every rank gets {@code B/(N·M)} images per micro-batch (global batch B, N ranks, M
 * accumulation steps); gradients are summed over ranks and micro-batches and divided by N·M, so
 * the update equals that of one rank with the whole global batch. The all-reduce is
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
     * One optimizer step over this rank's micro-batches.
     *
     * @param microBatches M arrays [b, 3, R, R] in [−1, 1], b = B/(N·M), in micro-step order
     */
    public StepMetrics step(List<NDArray> microBatches) {
        long t0 = System.nanoTime();
        int m = microBatches.size();
        if (m != config.gradAccumSteps()) {
            throw new IllegalArgumentException("expected " + config.gradAccumSteps() + " micro-batches, got " + m);
        }
        int depth = model.quantizer().depth();
        double[][] counts = new double[depth][];
        float[] losses = new float[3];
        double lr = schedule.at(adam.step() + 1);
        double gradNorm;
        int localImages = 0;
        long fwd = 0;
        long bwd = 0;
        long red;
        long opt;
        try (NDScope scope = new NDScope()) {
            for (NDArray x : microBatches) {
                localImages += (int) x.getShape().get(0);
                JniUtils.setGradMode(true);
                RqVae.LossTerms l;
                RqVae.Forward f;
                try {
                    long a = System.nanoTime();
                    f = model.forward(x, true, collective, restartRng);
                    l = model.loss(x, f);
                    long b = System.nanoTime();
                    PtNDArray total = (PtNDArray) l.total();
                    JniUtils.backward(total, (PtNDArray) total.onesLike(), false, false);
                    fwd += b - a;
                    bwd += System.nanoTime() - b;
                } finally {
                    JniUtils.setGradMode(false);
                }
                losses[0] += l.total().getFloat();
                losses[1] += l.recon().getFloat();
                losses[2] += l.commit().getFloat();
                for (int d = 0; d < depth; d++) {
                    float[] c = f.quantized().counts().get(d).toFloatArray();
                    if (counts[d] == null) {
                        counts[d] = new double[c.length];
                    }
                    for (int k = 0; k < c.length; k++) {
                        counts[d][k] += c[k];
                    }
                }
            }
            long a = System.nanoTime();
            Map<String, NDArray> grads = GradientReduction.reduce(params, losses, m, collective);
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
