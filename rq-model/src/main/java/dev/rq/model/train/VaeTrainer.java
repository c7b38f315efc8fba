package dev.rq.model.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.config.TrainConfig;
import dev.rq.model.config.GanLossConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.loss.GanObjective;
import dev.rq.model.loss.Lpips;
import dev.rq.model.loss.PatchDiscriminator;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.TensorData;
import dev.rq.model.safetensors.TensorSource;
import dev.rq.model.quantizer.ResidualQuantizer;
import dev.rq.model.util.Rng;
import dev.rq.model.vae.RqVae;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The per-worker RQ-VAE training step that the Spark trainer drives (and that runs alone in one
 * process): the loss hook of a {@link StepLoop} (forward → loss → backward per micro-batch; the
 * loop does the all-reduce, global-norm clipping and Adam). The codebook EMA statistics become
 * global inside the forward pass through the same {@link Collective}.
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
    private final StepLoop loop;
    private final Rng restartRng;
    private final Gan gan;
    private final GanObjective objective;
    /** Whether this trainer ran its {@link #warmUp} pass. */
    private boolean warmedUp;

    /** Serialises the warm-up passes of the trainers of this JVM (local ranks are threads). */
    private static final Object WARM_UP = new Object();

    /**
     * The official stage-1 GAN pair: the discriminator (trained by its own optimizer, which has the
     * settings of {@code train.*}, as the official trainer builds it from the generator's optimizer
     * section) and the loss terms.
     *
     * @param loss {@code gan.loss}
     * @param disc the patch discriminator
     * @param lpips the perceptual network (null when {@code perceptual_weight} is 0)
     */
    public record Gan(GanLossConfig loss, PatchDiscriminator disc, Lpips lpips) {}

    /** A trainer of {@code recon + β·commitment} (no perceptual or GAN term). */
    public VaeTrainer(RqVae model, TrainConfig config, Collective collective) {
        this(model, config, null, collective);
    }

    /** @param gan the GAN pair, or null for {@code recon + β·commitment} only */
    public VaeTrainer(RqVae model, TrainConfig config, Gan gan, Collective collective) {
        this.model = model;
        model.setPrecision(config.computePrecision()); // bf16: bfloat16 compute, float32 weights and Adam
        this.config = config;
        this.collective = collective;
        this.gan = gan;
        StepLoop.Part vae = StepLoop.Part.of(model.params(), config, false);
        if (gan == null) {
            this.loop = new StepLoop(collective, config, vae);
            this.objective = null;
        } else {
            this.loop = new StepLoop(collective, config, vae, StepLoop.Part.of(gan.disc().params(), config, false));
            this.objective = new GanObjective(gan.loss(), model.config().hparams().lossType(),
                    model.config().hparams().latentLossWeight(), gan.lpips(), gan.disc());
        }
        this.restartRng = Rng.of(config.seed(), 0x2e57a27L);
    }

    /** @return the optimizer step (its sharded optimizer state is streamed around checkpoints: {@link dev.rq.model.train.StepLoop#beginStream}) */
    public dev.rq.model.train.StepLoop stepLoop() {
        return loop;
    }

    /** @return optimizer steps taken */
    public long step() {
        return loop.part(0).step();
    }

    /** @return the model being trained */
    public RqVae model() {
        return model;
    }

    /** @return the GAN pair, or null */
    public Gan gan() {
        return gan;
    }

    /** @return optimizer steps the discriminator took (0 without GAN) */
    public long discriminatorStep() {
        return gan == null ? 0 : loop.part(1).step();
    }

    /** {@link #step(List, int)} of a run without GAN (or with the GAN part on from epoch 0). */
    public VaeStepMetrics step(List<NDArray> shares) {
        if (gan != null && gan.loss().discStart() > 0) {
            throw new IllegalStateException("gan.loss.disc_start > 0: the step needs the epoch index");
        }
        return step(shares, 0);
    }

    /**
     * One optimizer step over this rank's share of every accumulation step.
     *
     * <p>Per accumulation step: the share is cut into micro-batches of {@code
     * train.micro_batch_size} images (fresh libtorch copies, so every micro-batch's computation is
     * the same bits wherever its images came from); each is encoded, all are quantized jointly
     * (one EMA update per depth with the statistics of the whole accumulation step over all
     * ranks), then each is decoded and back-propagated on its own ({@link StepLoop} sums and
     * reduces the gradients).
     *
     * <p>With the GAN pair, each micro-batch runs the official generator phase then the
     * discriminator phase ({@link GanObjective}) on its own images: the adaptive weight and the
     * discriminator's BatchNorm statistics are those of the micro-batch (what the official
     * data-parallel trainer computes on each GPU's batch), so they do not depend on the number of
     * ranks. The running BatchNorm statistics (used only in eval mode) are updated once per
     * discriminator call of the step — fake in the generator phase, fake, real — with that call's
     * batch statistics averaged over the step's micro-batches (with one micro-batch per step,
     * exactly the official update).
     *
     * @param shares M arrays [L·g, 3, R, R] in [−1, 1]: this rank's contiguous share of each
     *     accumulation step (g = micro_batch_size, L = micro-batches per rank), in order
     * @param epoch the 0-based epoch of this step (the GAN part is on from {@code gan.loss.disc_start})
     */
    public VaeStepMetrics step(List<NDArray> shares, int epoch) {
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
        if (!warmedUp) {
            warmUp(shares.get(0), g);
            warmedUp = true;
        }
        int depth = model.quantizer().depth();
        double[][] counts = new double[depth][];
        int localImages = 0;
        for (NDArray share : shares) {
            localImages += (int) share.getShape().get(0);
        }
        if (gan != null) {
            return ganStep(shares, epoch, slots, localImages, counts);
        }
        StepLoop.Plan plan = new StepLoop.Plan(m, slots, 3, config.microBatchesPerStep(), true);
        StepLoop.Result r = loop.step(plan, (a, micro) -> {
            Encoded e = encodeJointly(shares.get(a), slots, g);
            List<NDArray> xs = e.xs();
            List<NDArray> ze = e.ze();
            List<ResidualQuantizer.Quantized> q = e.q();
            for (int j = 0; j < slots; j++) {
                RqVae.Forward f = new RqVae.Forward(ze.get(j), q.get(j), model.decode(q.get(j).zq(), true));
                RqVae.LossTerms l = model.loss(xs.get(j), f);
                micro.backward(l.total());
                micro.collect(j, l.total().getFloat(), l.recon().getFloat(), l.commit().getFloat());
            }
            addCounts(counts, q.get(0));
        });
        float[] losses = r.stats();
        return metrics(r, losses[0], losses[1], losses[2], counts, localImages, null);
    }

    /**
     * One throwaway forward and backward pass through encoder and decoder on a micro-batch of the
     * first step (no quantizer, no dropout, no optimizer step; the gradients are zeroed after it),
     * one trainer of the JVM at a time, before this trainer's first step.
     *
     * <p>Why: with the fused kernels and channels-last memory in float32 (the fused kernels are the
     * default since session 8; training then ran channels-last too) the first backward pass of a process resumed from a checkpoint
     * sometimes computed wrong gradients — on one rank, for one micro-batch, all parameters
     * upstream of one layer (scripts/fp32-kernels-resume-repro.sh with a gradient digest per
     * micro-batch, docs/performance-history.md) — while uninterrupted processes never did: a first use of
     * libtorch / oneDNN kernels in a process whose native heap is no longer fresh. The warm-up
     * takes that first use; every later pass was right. Gradients reach the first real step as
     * defined zeros in every process, fresh or resumed, so both compute the same bits.
     *
     * @param share this rank's first share [L·g, 3, R, R]
     */
    private void warmUp(NDArray share, int g) {
        synchronized (WARM_UP) {
            try (NDScope scope = new NDScope()) {
                NDArray x = share.get("0:" + g).duplicate(); // [g, 3, R, R]
                JniUtils.setGradMode(true);
                try {
                    NDArray out = model.decode(model.encode(x, false), false).mean();
                    JniUtils.backward((PtNDArray) out, (PtNDArray) out.onesLike(), false, false);
                } finally {
                    JniUtils.setGradMode(false);
                }
            }
            model.params().trainable().values().forEach(p -> JniUtils.zeroGrad((PtNDArray) p));
        }
    }

    /** One accumulation step's micro-batches: images, encoder outputs and their joint quantization. */
    private record Encoded(List<NDArray> xs, List<NDArray> ze, List<ResidualQuantizer.Quantized> q) {}

    /**
     * Cuts a share into micro-batches (fresh libtorch copies), encodes each and quantizes all of
     * them jointly (one EMA update per depth with the statistics of every rank's micro-batches).
     *
     * @param share [slots·g, 3, R, R]
     */
    private Encoded encodeJointly(NDArray share, int slots, int g) {
        List<NDArray> ze = new ArrayList<>(slots);
        List<NDArray> xs = new ArrayList<>(slots);
        for (int j = 0; j < slots; j++) {
            NDArray x = share.get(j * g + ":" + (j + 1) * g).duplicate();
            xs.add(x);
            ze.add(model.encode(x, true));
        }
        return new Encoded(xs, ze, model.quantizer().quantize(ze, true, collective, restartRng));
    }

    /** Stats per micro-batch of the GAN step (then the discriminator's batch statistics). */
    private static final int GAN_STATS = 7;

    private VaeStepMetrics ganStep(List<NDArray> shares, int epoch, int slots, int localImages, double[][] counts) {
        boolean useDisc = epoch >= gan.loss().discStart();
        int g = config.microBatchSize();
        int bn = useDisc ? 3 * gan.disc().batchStatisticsSize() : 0;
        StepLoop.Plan plan = new StepLoop.Plan(shares.size(), slots, GAN_STATS + bn, config.microBatchesPerStep(),
                true, useDisc);
        StepLoop.Result r = loop.step(plan, (a, micro) -> {
            Encoded e = encodeJointly(shares.get(a), slots, g);
            List<NDArray> xs = e.xs();
            List<ResidualQuantizer.Quantized> q = e.q();
            for (int j = 0; j < slots; j++) {
                NDArray x = xs.get(j);
                NDArray[] dec = model.decodeWithLastInput(q.get(j).zq(), true);
                GanObjective.GenTerms t = objective.generator(x, dec[0], dec[1], model.params().get(RqVae.LAST_LAYER),
                        q.get(j).commitLoss(), useDisc, PatchDiscriminator.Mode.TRAIN_NO_STATS);
                float[] stats = new float[GAN_STATS + bn];
                stats[0] = t.lossTotalLogged(model.config().hparams().latentLossWeight().floatValue(),
                        gan.loss().perceptualWeight().floatValue());
                stats[1] = t.lossRecon();
                stats[2] = t.lossLatent();
                stats[3] = t.lossPcpt();
                stats[4] = t.lossGen();
                stats[5] = t.gWeight();
                if (useDisc) {
                    stats[6] = objective.discriminator(x, dec[1], PatchDiscriminator.Mode.TRAIN_NO_STATS).lossDisc();
                    float[] b = gan.disc().takeBatchStatistics(); // generator-phase fake, fake, real
                    System.arraycopy(b, 0, stats, GAN_STATS, bn);
                }
                micro.collect(j, stats);
            }
            addCounts(counts, q.get(0));
        });
        float[] s = r.stats();
        if (useDisc) {
            gan.disc().updateRunningStatistics(java.util.Arrays.copyOfRange(s, GAN_STATS, GAN_STATS + bn));
        }
        VaeStepMetrics.GanTerms terms = new VaeStepMetrics.GanTerms(s[3], s[4], s[5], s[6], useDisc,
                r.gradNorms()[1], r.lrs()[1], discriminatorStep());
        return metrics(r, s[0], s[1], s[2], counts, localImages, terms);
    }

    private VaeStepMetrics metrics(StepLoop.Result r, double loss, double recon, double commit, double[][] counts,
            int localImages, VaeStepMetrics.GanTerms terms) {
        int depth = counts.length;
        double[] perplexity = new double[depth];
        double[] used = new double[depth];
        for (int d = 0; d < depth; d++) {
            perplexity[d] = perplexity(counts[d]);
            used[d] = usedFraction(counts[d]);
        }
        return new VaeStepMetrics(step(), r.lrs()[0], loss, recon, commit, r.gradNorms()[0], perplexity, used,
                deadFraction(), localImages * collective.worldSize(), r.seconds(), r.timings(), terms);
    }

    private static void addCounts(double[][] counts, ResidualQuantizer.Quantized q) {
        for (int d = 0; d < counts.length; d++) {
            float[] c = q.counts().get(d).toFloatArray();
            if (counts[d] == null) {
                counts[d] = new double[c.length];
            }
            for (int k = 0; k < c.length; k++) {
                counts[d][k] += c[k];
            }
        }
    }

    /** @return exp(entropy) of a code histogram */
    static double perplexity(double[] counts) {
        double total = 0;
        for (double c : counts) {
            total += c;
        }
        double h = 0;
        for (double c : counts) {
            if (c > 0) {
                h -= c / total * Math.log(c / total);
            }
        }
        return Math.exp(h);
    }

    /** @return the fraction of codes used at least once */
    static double usedFraction(double[] counts) {
        int nonzero = 0;
        for (double c : counts) {
            if (c > 0) {
                nonzero++;
            }
        }
        return nonzero / (double) counts.length;
    }

    /** @return the dead-code fraction of the last lookup, averaged over distinct codebooks */
    private double deadFraction() {
        double dead = 0;
        List<Object> seen = new ArrayList<>();
        for (int d = 0; d < model.quantizer().depth(); d++) {
            var cb = model.quantizer().codebook(d);
            if (!seen.contains(cb)) {
                seen.add(cb);
                dead += cb.lastDeadFraction();
            }
        }
        return dead / seen.size();
    }

    /** @return optimizer moments as views, copied to the host one at a time when written ({@link Adam#state()}) */
    public Map<String, TensorData> optimizerState() {
        return loop.part(0).optimizerState();
    }

    /** @return the discriminator's optimizer moments as views (empty without GAN) */
    public Map<String, TensorData> discriminatorOptimizerState() {
        return gan == null ? Map.of() : loop.part(1).optimizerState();
    }

    /** Restores the discriminator's optimizer moments (streamed) and its step count (for resuming). */
    public void restoreDiscriminator(TensorSource optimizer, long step) throws java.io.IOException {
        loop.part(1).restore(optimizer, step);
    }

    /** @return the restart generator's state */
    public long rngState() {
        return restartRng.state();
    }

    /** Restores optimizer moments, step count and the restart generator (for resuming). */
    public void restore(Map<String, HostTensor> optimizer, long step, long rngState) {
        loop.part(0).restore(optimizer, step);
        restartRng.setState(rngState);
    }

    /** As {@link #restore(Map, long, long)}, streaming the moments one tensor at a time. */
    public void restore(TensorSource optimizer, long step, long rngState) throws java.io.IOException {
        loop.part(0).restore(optimizer, step);
        restartRng.setState(rngState);
    }
}
