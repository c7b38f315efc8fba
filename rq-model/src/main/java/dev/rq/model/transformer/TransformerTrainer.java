package dev.rq.model.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.rq.model.config.Stage2LossConfig;
import dev.rq.model.config.TrainConfig;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.TensorData;
import dev.rq.model.safetensors.TensorSource;
import dev.rq.model.nn.Tensors;
import dev.rq.model.train.StepLoop;
import dev.rq.model.util.Rng;
import dev.rq.model.vae.RqVae;
import java.util.List;
import java.util.Map;

/**
 * The per-worker RQ-Transformer training step that a data-parallel driver calls (and that runs
 * alone in one process), the stage-2 analogue of {@link dev.rq.model.train.VaeTrainer}: per
 * micro-batch inputs/targets from the frozen RQ-VAE (no gradient), forward with dropout → loss →
 * backward (the loss hook of a {@link StepLoop}: one all-reduce of gradients and loss statistics
 * through the {@link Collective}, sum over ranks divided by N·M; global-norm clipping; AdamW;
 * warm-up + cosine learning rate).
 *
 * <p><b>Optimizer</b> (spec §4.6–4.7, inferred; the official stage-2 trainer is not released):
 * AdamW with {@code train.betas}, {@code train.adam_eps}, {@code train.weight_decay}. Decoupled
 * weight decay applies only to the weights of Linear layers (their {@link
 * dev.rq.model.nn.ParamStore.Spec#decay}, {@link RqTransformer#weightDecayKeys});
 * biases, LayerNorm parameters, the condition embedding and the positional embeddings are not
 * decayed (the usual minGPT split). The RQ-VAE is frozen and in eval mode.
 *
 * <p><b>Inputs</b>: a {@link MicroBatch} of images (the official recipe: soft codes of z_e at
 * {@code loss.temp}, input codes sampled from them depth by depth when {@code
 * loss.stochastic_codes}, soft-target cross-entropy) or of codes (e.g. from a token table; hard
 * targets unless soft targets are given).
 *
 * <p><b>Exactness</b>: the global batch B is M accumulation steps of B/M samples, each cut into
 * micro-batches of b samples (the unit of computation: {@code train.micro_batch_size} in the Spark
 * stage); rank r of N takes the r-th contiguous share of L micro-batches of every accumulation step
 * (as {@link dev.rq.model.train.VaeTrainer}). The sample at position i of micro-batch j of rank r in
 * accumulation step a has global index {@code ((a·N + r)·L + j)·b + i}; its dropout masks, stochastic
 * codes and class dropout come from generators keyed by (seed, step, global index), so a
 * micro-batch's forward and backward are the same computation for every N, and the loop adds the
 * micro-batch gradients and loss statistics in an N-independent order ({@link
 * dev.rq.model.train.StepLoop}): N ranks give one rank's bits where the tree order is exact ({@link
 * TrainConfig#treeAllReduce}). The all-reduce is deterministic, so all ranks apply bit-identical updates.
 *
 * <p><b>Classifier-free guidance</b> ({@code model.cond_drop_prob} p &gt; 0, not in the official
 * recipe): a sample's class is replaced by the model's null class when the first uniform of its
 * generator keyed by (seed, step, global index) on its own stream is below p, so the dropped
 * samples, like the dropout masks, do not depend on N or M ({@link #dropsCondition}).
 */
public final class TransformerTrainer {

    private static final long DROPOUT_STREAM = 0xD40F;
    private static final long CODES_STREAM = 0xC0DE5;
    private static final long COND_DROP_STREAM = 0xCF6D;

    private final RqTransformer model;
    private final RqVae vae;
    private final TrainConfig config;
    private final Stage2LossConfig lossConfig;
    private final Collective collective;
    private final StepLoop loop;
    private final boolean dropout;

    /**
     * One micro-batch of this rank: either images or codes, with their condition.
     *
     * @param images [b, 3, R, R] in [−1, 1], or null
     * @param codes [b, H, W, Dd] int64, or null
     * @param softTargets [b, H, W, Dd, K] soft targets for {@code codes}, or null (hard targets)
     * @param labels per sample the class (Lc = 1) or Lc condition tokens; null = zeros
     */
    public record MicroBatch(NDArray images, NDArray codes, NDArray softTargets, long[] labels) {

        public MicroBatch {
            if ((images == null) == (codes == null)) {
                throw new IllegalArgumentException("a micro-batch holds images or codes (exactly one)");
            }
            if (softTargets != null && codes == null) {
                throw new IllegalArgumentException("soft targets need codes");
            }
        }

        /** Images: targets and input codes come from the RQ-VAE as the loss config says. */
        public static MicroBatch ofImages(NDArray images, long[] labels) {
            return new MicroBatch(images, null, null, labels);
        }

        /** Codes with hard targets. */
        public static MicroBatch ofCodes(NDArray codes, long[] labels) {
            return new MicroBatch(null, codes, null, labels);
        }

        /** Codes with precomputed soft targets. */
        public static MicroBatch ofCodes(NDArray codes, NDArray softTargets, long[] labels) {
            return new MicroBatch(null, codes, softTargets, labels);
        }

        int size() {
            return (int) (images != null ? images : codes).getShape().get(0);
        }
    }

    public TransformerTrainer(RqTransformer model, RqVae vae, TransformerRunConfig config, Collective collective) {
        this.model = model;
        model.setPrecision(config.train().computePrecision()); // bf16: bfloat16 compute, float32 weights and AdamW
        this.vae = vae;
        this.config = config.train();
        this.lossConfig = config.loss();
        this.collective = collective;
        model.config().checkCompatible(vae.config());
        this.loop = new StepLoop(collective, this.config, StepLoop.Part.of(model.params(), this.config, true));
        var mc = model.config();
        this.dropout = mc.embdPdrop() > 0 || mc.body().block().residPdrop() > 0 || mc.body().block().attnPdrop() > 0
                || mc.head().block().residPdrop() > 0 || mc.head().block().attnPdrop() > 0;
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
    public RqTransformer model() {
        return model;
    }

    /**
     * One optimizer step over this rank's micro-batches.
     *
     * @param microBatches M·L micro-batches of b samples each: L per accumulation step (this rank's
     *     contiguous share of the step's micro-batches), accumulation steps in order
     */
    public TransformerStepMetrics step(List<MicroBatch> microBatches) {
        int mCount = config.gradAccumSteps();
        if (microBatches.isEmpty() || microBatches.size() % mCount != 0) {
            throw new IllegalArgumentException("expected L micro-batches for each of the " + mCount
                    + " accumulation steps, got " + microBatches.size());
        }
        int slots = microBatches.size() / mCount;
        int b = microBatches.get(0).size();
        for (MicroBatch mb : microBatches) {
            if (mb.size() != b) {
                throw new IllegalArgumentException("micro-batches of " + b + " and " + mb.size()
                        + " samples: all micro-batches of a step must have the same size");
            }
        }
        int depth = model.config().depth();
        long stepNo = step() + 1;
        int n = collective.worldSize();
        int rank = collective.rank();
        int localImages = microBatches.size() * b;
        // L slots; each micro-batch's gradients accumulate per slot; stats = loss, nll per depth
        StepLoop.Plan plan = new StepLoop.Plan(mCount, slots, 1 + depth, mCount * slots * n, true);
        StepLoop.Result r = loop.step(plan, (a, micro) -> {
            for (int j = 0; j < slots; j++) {
                MicroBatch mb = microBatches.get(a * slots + j);
                long first = (((long) a * n + rank) * slots + j) * b;
                micro.collect(j, microStep(micro, mb, stepNo, first));
            }
        });
        double[] nll = new double[depth];
        for (int d = 0; d < depth; d++) {
            nll[d] = r.stats()[1 + d];
        }
        return new TransformerStepMetrics(step(), r.lrs()[0], r.stats()[0], nll, r.gradNorms()[0], localImages * n,
                r.seconds(), r.timings());
    }

    /**
     * Forward and backward of one micro-batch whose first sample has global index {@code first}.
     *
     * @return its statistics: loss, then the NLL per depth
     */
    private float[] microStep(StepLoop.Micro micro, MicroBatch mb, long stepNo, long first) {
        int b = mb.size();
        int depth = model.config().depth();
        Inputs in = micro.noGrad(() -> inputs(mb, stepNo, first));
        Dropout drop = dropout ? Dropout.forSamples(config.seed(), first, b, DROPOUT_STREAM, stepNo) : null;
        RqTransformer.Output out = model.forward(vae, in.codes, in.cond, drop);
        // hard targets: one log-softmax serves the loss and the per-depth NLL statistics
        NDArray tokenNll = in.soft != null ? null : Losses.nll(out.logits(), in.codes); // [b, H, W, Dd]
        NDArray loss = in.soft != null ? Losses.softCrossEntropy(out.logits(), in.soft) : tokenNll.mean();
        if (out.condLogits() != null) {
            NDArray next = in.cond.get(new NDIndex().addAllDim().addSliceDim(1, in.cond.getShape().get(1)));
            loss = weighted(loss, lossConfig.imgWeight(), Losses.crossEntropy(out.condLogits(), next),
                    lossConfig.txtWeight());
        }
        micro.backward(loss);
        float[] stats = new float[1 + depth];
        stats[0] = loss.getFloat();
        float[] nll = micro.noGrad(() -> (tokenNll != null ? tokenNll : Losses.nll(out.logits(), in.codes))
                .reshape(-1, depth).mean(new int[] {0}).toFloatArray());
        System.arraycopy(nll, 0, stats, 1, depth);
        return stats;
    }

    private static NDArray weighted(NDArray a, double wa, NDArray b, double wb) {
        NDManager m = a.getManager();
        return a.mul(m.full(new ai.djl.ndarray.types.Shape(), (float) wa))
                .add(b.mul(m.full(new ai.djl.ndarray.types.Shape(), (float) wb)));
    }

    private record Inputs(NDArray codes, NDArray soft, NDArray cond) {}

    /** Input codes, soft targets (or null) and condition of a micro-batch (no gradient). */
    private Inputs inputs(MicroBatch mb, long stepNo, long first) {
        int b = mb.size();
        NDManager m = model.params().manager();
        NDArray cond = null;
        if (mb.labels() != null) {
            int lc = model.config().condLength();
            if (mb.labels().length != b * lc) {
                throw new IllegalArgumentException("labels has " + mb.labels().length + " entries, expected " + b * lc);
            }
            long[] labels = mb.labels();
            if (model.config().hasNullClass()) {
                labels = labels.clone();
                for (int i = 0; i < b; i++) {
                    if (dropsCondition(config.seed(), stepNo, first + i, model.config().condDropProb())) {
                        labels[i] = model.config().nullClass();
                    }
                }
            }
            cond = Tensors.of(m, labels).reshape(b, lc);
        } else if (model.config().condLength() > 1) {
            cond = m.zeros(new ai.djl.ndarray.types.Shape(b, model.config().condLength()),
                    ai.djl.ndarray.types.DataType.INT64);
        }
        if (mb.codes() != null) {
            return new Inputs(mb.codes(), mb.softTargets(), cond);
        }
        NDArray ze = vae.encode(mb.images(), false);
        double temp = lossConfig.temp();
        NDList soft;
        if (lossConfig.stochasticCodes()) {
            NDList q = new NDList();
            NDList c = new NDList();
            for (int i = 0; i < b; i++) {
                NDList one = vae.softCodes(ze.get(new NDIndex().addSliceDim(i, i + 1)), temp, true,
                        Rng.of(config.seed(), CODES_STREAM, stepNo, first + i));
                q.add(one.get(0));
                c.add(one.get(1));
            }
            soft = new NDList(NDArrays.concat(q, 0), NDArrays.concat(c, 0));
        } else {
            soft = vae.softCodes(ze, temp, false, null);
        }
        return new Inputs(soft.get(1), lossConfig.soft() ? soft.get(0) : null, cond);
    }

    /**
     * Whether training replaces the class of one sample by the null class (classifier-free guidance).
     *
     * @param sample the sample's global index within the step (see the class comment)
     * @param p {@code model.cond_drop_prob}
     */
    public static boolean dropsCondition(long seed, long stepNo, long sample, double p) {
        return p > 0 && Rng.of(seed, COND_DROP_STREAM, stepNo, sample).nextDouble() < p;
    }

    /** @return optimizer moments as host tensors ({@code exp_avg.<key>}, {@code exp_avg_sq.<key>}) */
    public Map<String, TensorData> optimizerState() {
        return loop.part(0).optimizerState();
    }

    /**
     * Restores optimizer moments and the step count (for resuming). No generator state is needed:
     * all randomness is keyed by (seed, step, sample index).
     */
    public void restore(Map<String, HostTensor> optimizer, long step) {
        loop.part(0).restore(optimizer, step);
    }

    /** As {@link #restore(Map, long)}, streaming the moments one tensor at a time (one pass for both groups). */
    public void restore(TensorSource optimizer, long step) throws java.io.IOException {
        loop.part(0).restore(optimizer, step);
    }

    /** @return the keys optimised with weight decay, then those without */
    public List<List<String>> parameterGroups() {
        return loop.part(0).groups();
    }
}
