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
import dev.rq.model.train.GradientAccumulator;
import dev.rq.model.train.GradientReduction;
import dev.rq.model.train.LrSchedule;
import dev.rq.model.util.Rng;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The data-parallel training step of the semantic-ID RQ-VAE, exact like the image RQ-VAE's {@link
 * dev.rq.model.train.VaeTrainer}: the global batch B is M accumulation steps of B/M items, each cut
 * into micro-batches of g = {@code train.micro_batch_size} items of which rank r of N holds the
 * r-th contiguous share. Per accumulation step every micro-batch is encoded, all are quantized
 * jointly (one restart and one usage update per level from the counts of all micro-batches on all
 * ranks), then each is decoded and back-propagated on its own; gradients and loss values are
 * summed in an N-independent order ({@link GradientAccumulator}) and reduced over ranks ({@link
 * GradientReduction}), then clipped and applied by Adam ({@link Adam}, weight decay from {@code
 * train.weight_decay}). A micro-batch's computation has the same shape and inputs for every N, so
 * N = 1 and N = 2 train bit-identical models.
 *
 * <p>During the first {@code warmupSteps} optimizer steps the model trains as a plain autoencoder:
 * the decoder reads the encoder output z and the loss is the reconstruction MSE; the codebooks
 * are neither used nor trained (their gradients are zero). Code usage is still measured with the
 * current codebooks for the metrics.
 */
public final class SidTrainer {

    private final SidModel model;
    private final TrainConfig config;
    private final Collective collective;
    private final Map<String, NDArray> params;
    private final Map<String, NDArray> autoencoder;
    private final long warmupSteps;
    private final Adam adam;
    private final LrSchedule schedule;
    private final Rng restartRng;

    /**
     * @param warmupSteps optimizer steps of the autoencoder alone before the codebooks are used
     *     (the caller initialises them by k-means at that step)
     */
    public SidTrainer(SidModel model, TrainConfig config, long warmupSteps, Collective collective) {
        this.model = model;
        this.config = config;
        this.collective = collective;
        this.warmupSteps = warmupSteps;
        this.params = model.params().trainable();
        this.autoencoder = new LinkedHashMap<>();
        params.forEach((k, v) -> {
            if (!SidModel.isQuantizer(k)) {
                autoencoder.put(k, v);
            }
        });
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
     * @param codebook codebook loss (0 for EMA codebooks and during the warm-up)
     * @param commit commitment loss (0 during the warm-up)
     * @param gradNorm global gradient norm before clipping
     * @param perplexity per level, exp(entropy) of this step's code histogram
     * @param usedFraction per level, fraction of codes used in this step
     * @param deadFraction codes re-seeded (or due) at the last lookup, mean over distinct codebooks
     * @param items items in the global batch
     * @param seconds wall time
     * @param warmup whether this was a warm-up step (autoencoder alone)
     */
    public record Metrics(long step, double lr, double loss, double recon, double codebook, double commit,
            double gradNorm, double[] perplexity, double[] usedFraction, double deadFraction, int items,
            double seconds, boolean warmup) {}

    /** @return optimizer steps taken */
    public long step() {
        return adam.step();
    }

    /** @return whether the next step is a warm-up step (the codebooks are not used yet) */
    public boolean warmingUp() {
        return adam.step() < warmupSteps;
    }

    /**
     * One optimizer step over this rank's share of every accumulation step.
     *
     * @param shares M arrays [L·g, input_dim]: this rank's contiguous share of each accumulation
     *     step (g = micro_batch_size, L = micro-batches per rank), in order
     */
    public Metrics step(List<NDArray> shares) {
        long t0 = System.nanoTime();
        if (shares.size() != config.gradAccumSteps()) {
            throw new IllegalArgumentException("expected " + config.gradAccumSteps() + " accumulation steps, got "
                    + shares.size());
        }
        int g = config.microBatchSize();
        long rows = shares.get(0).getShape().get(0);
        int slots = Math.toIntExact(rows / g);
        if (slots * (long) g != rows || slots * collective.worldSize() != config.microBatchesPerAccumulation()) {
            throw new IllegalArgumentException("a share of " + rows + " items is not "
                    + config.microBatchesPerAccumulation() + "/" + collective.worldSize() + " micro-batches of " + g);
        }
        boolean warmup = warmingUp();
        Map<String, NDArray> trained = warmup ? autoencoder : params;
        int depth = model.depth();
        double[][] counts = new double[depth][];
        double lr = schedule.at(adam.step() + 1);
        double gradNorm;
        float[] losses;
        int local = 0;
        try (NDScope scope = new NDScope()) { // frees the step's activations and gradient copies
            GradientAccumulator acc = new GradientAccumulator(trained, slots, 4);
            for (NDArray share : shares) {
                local += (int) share.getShape().get(0);
                List<NDArray> micro = new ArrayList<>(slots);
                for (int j = 0; j < slots; j++) {
                    micro.add(share.get(j * g + ":" + (j + 1) * g).duplicate()); // fresh: same bits for every N
                }
                List<float[]> stepCounts;
                JniUtils.setGradMode(true);
                try {
                    List<NDArray> zs = new ArrayList<>(slots);
                    for (NDArray x : micro) {
                        zs.add(model.encode(x));
                    }
                    List<Levels.Quantized> q = warmup ? null : model.quantize(zs, true, collective, restartRng);
                    for (int j = 0; j < slots; j++) {
                        NDArray x = micro.get(j);
                        SidModel.LossTerms l;
                        if (warmup) {
                            l = model.warmupLoss(x, model.decode(zs.get(j)));
                        } else {
                            NDArray recon = model.decode(q.get(j).zq());
                            l = model.loss(x, new SidModel.Forward(zs.get(j), q.get(j), recon));
                        }
                        PtNDArray total = (PtNDArray) l.total();
                        JniUtils.backward(total, (PtNDArray) total.onesLike(), false, false);
                        acc.collect(j, new float[] {l.total().getFloat(), l.recon().getFloat(),
                                l.codebook() == null ? 0f : l.codebook().getFloat(),
                                l.commit() == null ? 0f : l.commit().getFloat()});
                    }
                    stepCounts = warmup ? usage(zs) : q.get(0).counts().stream().map(NDArray::toFloatArray).toList();
                } finally {
                    JniUtils.setGradMode(false);
                }
                for (int d = 0; d < depth; d++) {
                    float[] c = stepCounts.get(d);
                    counts[d] = counts[d] == null ? new double[c.length] : counts[d];
                    for (int k = 0; k < c.length; k++) {
                        counts[d][k] += c[k];
                    }
                }
            }
            losses = acc.stats();
            Map<String, NDArray> grads = new LinkedHashMap<>(GradientReduction.reduce(acc.gradients(), losses,
                    config.microBatchesPerStep(), collective));
            for (Map.Entry<String, NDArray> e : params.entrySet()) {
                if (!grads.containsKey(e.getKey())) {
                    grads.put(e.getKey(), e.getValue().zerosLike()); // warm-up: the codebooks stay as they are
                }
            }
            gradNorm = GradientReduction.globalNorm(grads);
            GradientReduction.clip(grads, gradNorm, config.gradClipNorm());
            adam.update(params, grads, lr);
            trained.values().forEach(p -> JniUtils.zeroGrad((PtNDArray) p));
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
                warmup ? 0 : model.deadFraction(), local * collective.worldSize(), (System.nanoTime() - t0) / 1e9,
                warmup);
    }

    /** @return per level, the global counts [K_d] of the current codebooks' codes of zs (no update) */
    private List<float[]> usage(List<NDArray> zs) {
        int depth = model.depth();
        int[] offset = new int[depth + 1];
        for (int d = 0; d < depth; d++) {
            offset[d + 1] = offset[d] + model.codebookSize(d);
        }
        float[] all = new float[offset[depth]];
        for (NDArray z : zs) {
            long[] codes = model.levels().codes(z.stopGradient()).toLongArray(); // [n, D]
            for (int i = 0; i < codes.length; i++) {
                int d = i % depth;
                all[offset[d] + (int) codes[i]]++;
            }
        }
        if (collective.worldSize() > 1) {
            collective.allReduceSum(all); // integers: exact
        }
        List<float[]> out = new ArrayList<>(depth);
        for (int d = 0; d < depth; d++) {
            out.add(java.util.Arrays.copyOfRange(all, offset[d], offset[d + 1]));
        }
        return out;
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
