package dev.rq.model.config;

import dev.rq.model.engine.Precision;
import java.io.Serializable;
import java.util.List;

/**
 * Optimisation settings of a training run. {@code batchSize} is the <b>global</b> batch: the
 * number of images per optimizer step summed over all workers and accumulation micro-steps.
 *
 * @param batchSize global images per optimizer step
 * @param gradAccumSteps accumulation steps per optimizer step: the global batch is processed as this
 *     many consecutive parts of {@code batchSize / gradAccumSteps} images, each with its own codebook
 *     EMA update (one all-reduce of gradients per optimizer step either way)
 * @param microBatchSize images per forward/backward pass: the unit of computation, fixed whatever
 *     the number of workers, so that N workers compute exactly what one worker computes. Each
 *     accumulation step of {@code batchSize / gradAccumSteps} images is cut into micro-batches of
 *     this size and every worker takes a contiguous, equal share of them, so the workers must
 *     divide their number. Default: {@code batchSize / gradAccumSteps / gcd(·, 8)} (allows 1, 2,
 *     4 or 8 workers when the accumulation step is a multiple of 8)
 * @param lr peak learning rate
 * @param betas Adam β1, β2
 * @param adamEps Adam ε
 * @param weightDecay decoupled weight decay (0 = Adam, as the official stage 1)
 * @param warmupSteps linear warm-up from 0 to lr
 * @param schedule {@code constant} or {@code cosine} after warm-up
 * @param minLr the cosine schedule's floor
 * @param maxSteps optimizer steps of the run
 * @param gradClipNorm global-norm clip (0 = off, as the official stage 1)
 * @param seed seed of initialisation, data order, augmentation and codebook restarts
 * @param checkpointEvery optimizer steps between checkpoints (0 = only at the end)
 * @param keepCheckpoints how many committed checkpoints to keep
 * @param logEvery steps between metric records
 * @param init checkpoint URI whose model weights start the run (fine-tuning, {@code --init}): weights
 *     only (EMA codebook buffers included), fresh optimizer, step 0; its tensors must have this
 *     model's names and shapes; null = the seeded initialisation. A run that has committed
 *     checkpoints resumes from them instead.
 * @param precision compute precision, {@code fp32} (default) or {@code bf16} (bfloat16 compute with
 *     float32 master weights, optimizer state, losses and quantizer; see {@link Precision})
 * @param allreduceBucketMb size in MB (10^6 bytes) of the buckets in which gradients are all-reduced
 *     over the workers (host memory per worker; default 25 as PyTorch DDP's {@code bucket_cap_mb}); the
 *     results do not depend on it ({@code dev.rq.model.train.GradientReduction})
 * @param shardOptimizerState each worker keeps and updates the Adam moments of its own share of the
 *     parameter tensors only (ZeRO stage 1; default false): optimizer memory per worker ÷ N, one broadcast
 *     of the updated weights per step; bit-identical results and checkpoints
 *     ({@code dev.rq.model.train.OptimizerShards})
 * @param allreduceOrder the order in which the workers' gradient sums (and codebook statistics) are added:
 *     {@code tree} (the pairwise tree over the workers that one worker uses for its micro-batches: N workers
 *     give one worker's bits when each holds one micro-batch of an accumulation step or N is a power of
 *     two), {@code ring} (the ring's own order: one worker's bits for N &le; 2 only; the least traffic), or
 *     {@code auto} (default: tree where it gives one worker's bits, else ring; {@link #treeAllReduce}). Runs
 *     started before this key resume with {@code ring} (docs/training.md)
 */
public record TrainConfig(
        Integer batchSize,
        Integer gradAccumSteps,
        Integer microBatchSize,
        Double lr,
        List<Double> betas,
        Double adamEps,
        Double weightDecay,
        Integer warmupSteps,
        String schedule,
        Double minLr,
        Integer maxSteps,
        Double gradClipNorm,
        Long seed,
        Integer checkpointEvery,
        Integer keepCheckpoints,
        Integer logEvery,
        String init,
        String precision,
        Double allreduceBucketMb,
        Boolean shardOptimizerState,
        String allreduceOrder) implements Serializable {

    private static final String P = "train.";

    /** {@link #allreduceOrder}: the tree order where it gives one worker's bits, else the ring's. */
    public static final String AUTO = "auto";
    /** {@link #allreduceOrder}: the pairwise tree over the workers. */
    public static final String TREE = "tree";
    /** {@link #allreduceOrder}: the ring's order (the only one before the key existed). */
    public static final String RING = "ring";

    public TrainConfig {
        batchSize = batchSize == null ? 16 : batchSize;
        gradAccumSteps = gradAccumSteps == null ? 1 : gradAccumSteps;
        lr = lr == null ? 4e-5 : lr;
        betas = betas == null ? List.of(0.5, 0.9) : List.copyOf(betas);
        adamEps = adamEps == null ? 1e-8 : adamEps;
        weightDecay = weightDecay == null ? 0.0 : weightDecay;
        warmupSteps = warmupSteps == null ? 0 : warmupSteps;
        schedule = schedule == null ? "constant" : schedule;
        minLr = minLr == null ? 0.0 : minLr;
        maxSteps = maxSteps == null ? 1000 : maxSteps;
        gradClipNorm = gradClipNorm == null ? 0.0 : gradClipNorm;
        seed = seed == null ? 0L : seed;
        checkpointEvery = checkpointEvery == null ? 0 : checkpointEvery;
        keepCheckpoints = keepCheckpoints == null ? 3 : keepCheckpoints;
        logEvery = logEvery == null ? 10 : logEvery;
        precision = precision == null ? Precision.FP32.id() : precision;
        allreduceBucketMb = allreduceBucketMb == null ? 25.0 : allreduceBucketMb;
        shardOptimizerState = shardOptimizerState != null && shardOptimizerState;
        allreduceOrder = allreduceOrder == null ? AUTO : allreduceOrder;
        ConfigException.require(List.of(AUTO, TREE, RING).contains(allreduceOrder), P + "allreduce_order",
                "must be auto, tree or ring, got '%s'", allreduceOrder);
        ConfigException.require(batchSize > 0, P + "batch_size", "must be positive, got %s", batchSize);
        ConfigException.require(gradAccumSteps > 0, P + "grad_accum_steps", "must be positive, got %s", gradAccumSteps);
        ConfigException.require(batchSize % gradAccumSteps == 0, P + "grad_accum_steps",
                "must divide batch_size %s, got %s", batchSize, gradAccumSteps);
        int accumulation = batchSize / gradAccumSteps;
        microBatchSize = microBatchSize == null ? accumulation / gcd(accumulation, 8) : microBatchSize;
        ConfigException.require(microBatchSize > 0 && accumulation % microBatchSize == 0, P + "micro_batch_size",
                "must divide batch_size / grad_accum_steps = %s, got %s", accumulation, microBatchSize);
        ConfigException.require(lr > 0, P + "lr", "must be positive, got %s", lr);
        ConfigException.require(betas.size() == 2 && betas.get(0) >= 0 && betas.get(0) < 1
                && betas.get(1) >= 0 && betas.get(1) < 1, P + "betas", "must be two values in [0, 1), got %s", betas);
        ConfigException.require(adamEps > 0, P + "adam_eps", "must be positive, got %s", adamEps);
        ConfigException.require(weightDecay >= 0, P + "weight_decay", "must be >= 0, got %s", weightDecay);
        ConfigException.require(warmupSteps >= 0, P + "warmup_steps", "must be >= 0, got %s", warmupSteps);
        ConfigException.require(schedule.equals("constant") || schedule.equals("cosine"), P + "schedule",
                "must be constant or cosine, got %s", schedule);
        ConfigException.require(minLr >= 0 && minLr <= lr, P + "min_lr", "must be in [0, lr], got %s", minLr);
        ConfigException.require(maxSteps > 0, P + "max_steps", "must be positive, got %s", maxSteps);
        ConfigException.require(gradClipNorm >= 0, P + "grad_clip_norm", "must be >= 0, got %s", gradClipNorm);
        ConfigException.require(checkpointEvery >= 0, P + "checkpoint_every", "must be >= 0, got %s", checkpointEvery);
        ConfigException.require(keepCheckpoints > 0, P + "keep_checkpoints", "must be positive, got %s", keepCheckpoints);
        ConfigException.require(logEvery > 0, P + "log_every", "must be positive, got %s", logEvery);
        ConfigException.require(allreduceBucketMb >= 4e-6 && allreduceBucketMb <= 8000, P + "allreduce_bucket_mb",
                "must be in [0.000004, 8000] (one float32 to 2*10^9 of them), got %s", allreduceBucketMb);
        ConfigException.require(init == null || !init.isBlank(), P + "init", "must be a checkpoint URI, got '%s'", init);
        try {
            precision = Precision.parse(precision).id();
        } catch (IllegalArgumentException e) {
            throw new ConfigException(P + "precision", e.getMessage());
        }
    }

    /** Settings without {@code shard_optimizer_state} (unsharded; the constructor of scripts written before it). */
    public TrainConfig(Integer batchSize, Integer gradAccumSteps, Integer microBatchSize, Double lr, List<Double> betas,
            Double adamEps, Double weightDecay, Integer warmupSteps, String schedule, Double minLr, Integer maxSteps,
            Double gradClipNorm, Long seed, Integer checkpointEvery, Integer keepCheckpoints, Integer logEvery,
            String init, String precision, Double allreduceBucketMb) {
        this(batchSize, gradAccumSteps, microBatchSize, lr, betas, adamEps, weightDecay, warmupSteps, schedule, minLr,
                maxSteps, gradClipNorm, seed, checkpointEvery, keepCheckpoints, logEvery, init, precision,
                allreduceBucketMb, null, null);
    }

    /** Settings without {@code allreduce_order} ({@code auto}; the constructor of scripts written before it). */
    public TrainConfig(Integer batchSize, Integer gradAccumSteps, Integer microBatchSize, Double lr, List<Double> betas,
            Double adamEps, Double weightDecay, Integer warmupSteps, String schedule, Double minLr, Integer maxSteps,
            Double gradClipNorm, Long seed, Integer checkpointEvery, Integer keepCheckpoints, Integer logEvery,
            String init, String precision, Double allreduceBucketMb, Boolean shardOptimizerState) {
        this(batchSize, gradAccumSteps, microBatchSize, lr, betas, adamEps, weightDecay, warmupSteps, schedule, minLr,
                maxSteps, gradClipNorm, seed, checkpointEvery, keepCheckpoints, logEvery, init, precision,
                allreduceBucketMb, shardOptimizerState, null);
    }

    /** @return these settings with compute precision {@code p} */
    public TrainConfig withPrecision(Precision p) {
        return new TrainConfig(batchSize, gradAccumSteps, microBatchSize, lr, betas, adamEps, weightDecay,
                warmupSteps, schedule, minLr, maxSteps, gradClipNorm, seed, checkpointEvery, keepCheckpoints, logEvery,
                init, p.id(), allreduceBucketMb, shardOptimizerState, allreduceOrder);
    }

    /** @return these settings with {@code shard_optimizer_state} set to {@code on} */
    public TrainConfig withShardedOptimizerState(boolean on) {
        return new TrainConfig(batchSize, gradAccumSteps, microBatchSize, lr, betas, adamEps, weightDecay,
                warmupSteps, schedule, minLr, maxSteps, gradClipNorm, seed, checkpointEvery, keepCheckpoints, logEvery,
                init, precision, allreduceBucketMb, on, allreduceOrder);
    }

    /** @return {@link #precision} as the enum */
    public Precision computePrecision() {
        return Precision.parse(precision);
    }

    /** @return the default training settings */
    public static TrainConfig defaults() {
        return new TrainConfig(null, null, null, null, null, null, null, null, null, null, null, null, null,
                null, null, null, null, null, null, null, null);
    }

    /** @return images per accumulation step: {@code batchSize / gradAccumSteps} */
    public int accumulationSize() {
        return batchSize / gradAccumSteps;
    }

    /** @return micro-batches per accumulation step (summed over all workers) */
    public int microBatchesPerAccumulation() {
        return accumulationSize() / microBatchSize;
    }

    /** @return micro-batches per optimizer step G (summed over all workers): {@code batchSize / microBatchSize} */
    public int microBatchesPerStep() {
        return batchSize / microBatchSize;
    }

    /**
     * Checks that {@code workers} ranks can share every accumulation step's micro-batches equally.
     *
     * @throws ConfigException naming {@code train.micro_batch_size} otherwise
     */
    public void checkWorkers(int workers) {
        int acc = accumulationSize();
        ConfigException.require(acc % workers == 0, P + "batch_size",
                "batch_size / grad_accum_steps = %s images per accumulation step cannot be shared by %s workers",
                acc, workers);
        ConfigException.require(microBatchesPerAccumulation() % workers == 0, P + "micro_batch_size",
                "%s workers cannot share the %s micro-batches of %s images of an accumulation step equally;"
                        + " use a micro_batch_size that divides %s", workers, microBatchesPerAccumulation(),
                microBatchSize, acc / workers);
    }

    /**
     * Whether {@code workers} ranks add their sums in the tree order ({@link #allreduceOrder}). {@code auto}
     * picks it exactly where it gives one worker's bits: rank r sums micro-batch positions [rL, (r+1)L) of
     * the M = NL of an accumulation step in the pairwise midpoint tree over its L, and one worker sums all M
     * in the midpoint tree over M; every rank's block is a node of that tree, and the tree over the blocks
     * is the midpoint tree over the N ranks, iff L = 1 or N is a power of two. Otherwise no order of
     * adding the ranks' sums gives one worker's bits, and {@code auto} takes the ring's (less traffic).
     *
     * @return true for the tree order
     */
    public boolean treeAllReduce(int workers) {
        if (!allreduceOrder.equals(AUTO)) {
            return allreduceOrder.equals(TREE);
        }
        int l = microBatchesPerAccumulation() / workers;
        return workers > 1 && (l == 1 || Integer.bitCount(workers) == 1);
    }

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }
}
