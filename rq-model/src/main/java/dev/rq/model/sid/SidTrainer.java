package dev.rq.model.sid;

import ai.djl.ndarray.NDArray;
import dev.rq.model.config.TrainConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.TensorData;
import dev.rq.model.train.StepLoop;
import dev.rq.model.util.Rng;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The data-parallel training step of the semantic-ID RQ-VAE, exact like the image RQ-VAE's {@link
 * dev.rq.model.train.VaeTrainer}: the global batch B is M accumulation steps of B/M items, each cut
 * into micro-batches of g = {@code train.micro_batch_size} items of which rank r of N holds the
 * r-th contiguous share. This class is the loss hook of the one step loop ({@link StepLoop}):
 * per accumulation step every micro-batch is encoded, all are quantized jointly (one restart and
 * one usage update per level from the counts of all micro-batches on all ranks), then each is
 * decoded and back-propagated on its own; the loop sums gradients and loss values in an
 * N-independent order, reduces them over ranks, clips and applies Adam (weight decay from {@code
 * train.weight_decay}). A micro-batch's computation has the same shape and inputs for every N, so
 * N = 1 and N = 2 train bit-identical models.
 *
 * <p>The loop has two parts ({@link StepLoop.Part}): the autoencoder (encoder and decoder) and the
 * gradient-trained codebooks, each with its own Adam, step count and gradient clipping (EMA
 * codebooks have no trainable tensors and no part). The codebook part steps from the first step
 * after the warm-up on: its Adam moments and bias correction start at the k-means
 * initialisation.
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
    private final long warmupSteps;
    private final StepLoop loop;
    private final boolean codebookPart;
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
        StepLoop.Part autoencoder = StepLoop.Part.of(model.params(), k -> !SidModel.isQuantizer(k), config, false);
        this.codebookPart = model.params().trainable().keySet().stream().anyMatch(SidModel::isQuantizer);
        this.loop = codebookPart
                ? new StepLoop(collective, config, autoencoder, StepLoop.Part.of(model.params(), SidModel::isQuantizer, config,
                        false))
                : new StepLoop(collective, config, autoencoder);
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
     * @param gradNorm global gradient norm before clipping (over both parts: √(a² + c²))
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

    /** @return the optimizer step (its sharded optimizer state is streamed around checkpoints: {@link dev.rq.model.train.StepLoop#beginStream}) */
    public dev.rq.model.train.StepLoop stepLoop() {
        return loop;
    }

    /** @return optimizer steps taken */
    public long step() {
        return loop.part(0).step();
    }

    /** @return whether the next step is a warm-up step (the codebooks are not used yet) */
    public boolean warmingUp() {
        return step() < warmupSteps;
    }

    /**
     * One optimizer step over this rank's share of every accumulation step.
     *
     * @param shares M arrays [L·g, input_dim]: this rank's contiguous share of each accumulation
     *     step (g = micro_batch_size, L = micro-batches per rank), in order
     */
    public Metrics step(List<NDArray> shares) {
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
        int depth = model.depth();
        double[][] counts = new double[depth][];
        int local = 0;
        for (NDArray share : shares) {
            local += (int) share.getShape().get(0);
        }
        boolean[] active = codebookPart ? new boolean[] {true, !warmup} : new boolean[] {true};
        StepLoop.Plan plan = new StepLoop.Plan(shares.size(), slots, 4, config.microBatchesPerStep(), active);
        StepLoop.Result r = loop.step(plan, (a, micro) -> {
            NDArray share = shares.get(a);
            List<NDArray> xs = new ArrayList<>(slots);
            List<NDArray> zs = new ArrayList<>(slots);
            for (int j = 0; j < slots; j++) {
                NDArray x = share.get(j * g + ":" + (j + 1) * g).duplicate(); // fresh: same bits for every N
                xs.add(x);
                zs.add(model.encode(x));
            }
            List<Levels.Quantized> q = warmup ? null : model.quantize(zs, true, collective, restartRng);
            for (int j = 0; j < slots; j++) {
                SidModel.LossTerms l = warmup ? model.warmupLoss(xs.get(j), model.decode(zs.get(j)))
                        : model.loss(xs.get(j), new SidModel.Forward(zs.get(j), q.get(j), model.decode(q.get(j).zq())));
                micro.backward(l.total());
                micro.collect(j, l.total().getFloat(), l.recon().getFloat(),
                        l.codebook() == null ? 0f : l.codebook().getFloat(), l.commit() == null ? 0f : l.commit().getFloat());
            }
            List<float[]> stepCounts = warmup ? micro.noGrad(() -> usage(zs))
                    : q.get(0).counts().stream().map(NDArray::toFloatArray).toList();
            for (int d = 0; d < depth; d++) {
                float[] c = stepCounts.get(d);
                counts[d] = counts[d] == null ? new double[c.length] : counts[d];
                for (int k = 0; k < c.length; k++) {
                    counts[d][k] += c[k];
                }
            }
        });
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
        double norm = 0;
        for (double n : r.gradNorms()) {
            norm += n * n;
        }
        float[] losses = r.stats();
        return new Metrics(step(), r.lrs()[0], losses[0], losses[1], losses[2], losses[3], Math.sqrt(norm), perplexity,
                used, warmup ? 0 : model.deadFraction(), local * collective.worldSize(), r.seconds(), warmup);
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

    /** @return optimizer moments of both parts (tensors written to a checkpoint as they are read) */
    public Map<String, TensorData> optimizerState() {
        Map<String, TensorData> s = new java.util.LinkedHashMap<>(loop.part(0).optimizerState());
        if (codebookPart) {
            s.putAll(loop.part(1).optimizerState());
        }
        return s;
    }

    /** @return the restart generator's state */
    public long rngState() {
        return restartRng.state();
    }

    /** Restores optimizer moments, step count and the restart generator (for resuming). */
    public void restore(Map<String, HostTensor> optimizer, long step, long rngState) {
        loop.part(0).restore(optimizer, step);
        if (codebookPart) {
            loop.part(1).restore(optimizer, Math.max(0, step - warmupSteps)); // it steps from the warm-up's end on
        }
        restartRng.setState(rngState);
    }
}
