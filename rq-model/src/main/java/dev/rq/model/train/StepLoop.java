package dev.rq.model.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.config.TrainConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.NoGrad;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.TensorData;
import dev.rq.model.safetensors.TensorSource;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The one data-parallel optimizer step that every trainer runs (RQ-VAE, the GAN pair, the
 * RQ-Transformer, the semantic-ID model); the trainer supplies only its {@link Loss} hook.
 *
 * <pre>
 * for each accumulation step a:   hook(a)  — forward and backward of this rank's micro-batches,
 *                                            each ended by collect(slot, stats)
 * sum the micro-batch gradients  (GradientAccumulator: N-independent order)
 * one all-reduce of all gradients + stats, ÷ G micro-batches   (GradientReduction)
 * per part: global norm, clip, Adam/AdamW with the part's learning rate
 * sharded optimizer state: Adam on this rank's tensors only, then every parameter from its owner
 * </pre>
 *
 * <p>A {@link Part} is a set of parameters with its own optimizer, schedule and clipping: the
 * RQ-VAE alone, or the generator and the discriminator of the GAN pair (both reduced by the same
 * all-reduce, each stepping its own optimizer, as the official trainer's two optimizers). A part
 * that is not active in a step (the discriminator before {@code disc_start}) takes no optimizer
 * step and its schedule does not advance. Weight decay is a property of each parameter's {@link
 * ParamStore.Spec#decay}: a part keeps one optimizer for the decayed and one for the other
 * parameters (nanoGPT's {@code configure_optimizers}).
 *
 * <p>Exactness: a micro-batch's forward and backward are the same computation for every number
 * of ranks N, and the sums are N-independent ({@link GradientAccumulator}, {@link
 * dev.rq.model.distributed.TreeSum}), so hooks that cut the global batch into fixed micro-batches
 * (train-vae) give bit-identical models for N = 1 and N = 2.
 */
public final class StepLoop {

    /**
     * Seconds spent per phase of a step on this rank.
     *
     * @param forward the loss hook except its backward passes (forward passes, losses,
     *     in-forward collectives such as the codebook EMA)
     * @param backward backward passes started through {@link Micro#backward}
     * @param allReduce gradient all-reduce (host copies included)
     * @param optimizer clipping and the optimizer updates
     * @param allReduceWait the part of {@code allReduce} spent waiting for the slowest rank: from
     *     the first bucket's call to the first bytes of another rank ({@link Collective#lastAllReduceWaitNanos})
     * @param allReduceCopies the part of {@code allReduce} spent copying gradients to and from the
     *     host bucket buffers; the rest ({@code allReduce − allReduceWait − allReduceCopies}) is transfer
     * @param paramSync the part of {@code optimizer} spent copying updated parameters from their owners
     *     (sharded optimizer state only, {@link OptimizerShards}; else 0)
     */
    public record Timings(double forward, double backward, double allReduce, double optimizer, double allReduceWait,
            double allReduceCopies, double paramSync) {}

    /**
     * What one step did, global over ranks.
     *
     * @param lrs learning rate per part (0 for a part that was not active)
     * @param gradNorms global gradient norm per part before clipping (0 for a part that was not active)
     * @param stats the hook's statistics, summed over micro-batches and ranks, ÷ G
     * @param seconds wall time of the step
     * @param timings where this rank's time went
     */
    public record Result(double[] lrs, double[] gradNorms, float[] stats, double seconds, Timings timings) {}

    /**
     * The shape of one step on this rank.
     *
     * @param accumulationSteps M: the hook is called M times
     * @param slots L: micro-batches of this rank per accumulation step ({@link Micro#collect} slots)
     * @param stats statistics per micro-batch
     * @param microBatches G: micro-batches per step over all ranks (the divisor of the sums)
     * @param active per part, whether it steps this time
     */
    public record Plan(int accumulationSteps, int slots, int stats, int microBatches, boolean... active) {}

    /** The trainer's loss: forward and backward passes of one accumulation step (autograd is on). */
    @FunctionalInterface
    public interface Loss {
        void accumulate(int accumulationStep, Micro micro);
    }

    /** What a loss hook calls back. */
    public static final class Micro {
        private final GradientAccumulator acc;
        private long backwardNanos;

        private Micro(GradientAccumulator acc) {
            this.acc = acc;
        }

        /** Back-propagates a scalar loss into the parameters' {@code .grad} (timed as backward). */
        public void backward(NDArray loss) {
            long t = System.nanoTime();
            JniUtils.backward((PtNDArray) loss, (PtNDArray) loss.onesLike(), false, false);
            backwardNanos += System.nanoTime() - t;
        }

        /** @return {@code f}'s value computed with autograd off (inputs from a frozen model, metrics) */
        public <T> T noGrad(java.util.function.Supplier<T> f) {
            try (NoGrad off = NoGrad.enter()) {
                return f.get();
            }
        }

        /**
         * Ends a micro-batch: takes the gradients its backward passes left in {@code .grad} for
         * micro-batch position {@code slot} of this accumulation step, and its statistics.
         */
        public void collect(int slot, float... stats) {
            acc.collect(slot, stats);
        }
    }

    /** A set of parameters with its own optimizer, learning-rate schedule and gradient clipping. */
    public static final class Part {
        private final Map<String, NDArray> params;
        private final List<Map<String, NDArray>> groups = new ArrayList<>();
        private final List<Double> decays = new ArrayList<>();
        /** One per group, made by the {@link StepLoop} that takes this part (with its ownership of tensors). */
        private final List<Adam> adams = new ArrayList<>();
        private final ai.djl.ndarray.NDManager manager;
        private final double beta1;
        private final double beta2;
        private final double eps;
        private final boolean decoupled;
        private final LrSchedule schedule;
        private final double clipNorm;
        private StepLoop loop;

        /**
         * @param store the parameters: the trainable ones are optimised, with {@code weightDecay}
         *     where their spec says {@link ParamStore.Spec#decay}
         * @param decoupled AdamW (decoupled weight decay) instead of Adam's L2 term
         * @param clipNorm global-norm clipping threshold (≤ 0: none)
         */
        public Part(ParamStore store, double beta1, double beta2, double eps, double weightDecay, boolean decoupled,
                LrSchedule schedule, double clipNorm) {
            this(store, k -> true, beta1, beta2, eps, weightDecay, decoupled, schedule, clipNorm);
        }

        /**
         * A part of the trainable parameters of {@code store} whose keys {@code include} accepts
         * (e.g. the semantic-ID model's autoencoder and its codebooks, stepped apart).
         */
        public Part(ParamStore store, java.util.function.Predicate<String> include, double beta1, double beta2,
                double eps, double weightDecay, boolean decoupled, LrSchedule schedule, double clipNorm) {
            this.params = new LinkedHashMap<>();
            store.trainable().forEach((k, v) -> {
                if (include.test(k)) {
                    params.put(k, v);
                }
            });
            Map<String, NDArray> decayed = new LinkedHashMap<>();
            Map<String, NDArray> plain = new LinkedHashMap<>();
            params.forEach((k, v) -> (store.spec(k).decay() ? decayed : plain).put(k, v));
            if (!decayed.isEmpty() || plain.isEmpty()) {
                groups.add(decayed);
                decays.add(weightDecay);
            }
            if (!plain.isEmpty()) {
                groups.add(plain);
                decays.add(0.0);
            }
            this.manager = store.manager();
            this.beta1 = beta1;
            this.beta2 = beta2;
            this.eps = eps;
            this.decoupled = decoupled;
            this.schedule = schedule;
            this.clipNorm = clipNorm;
        }

        /** Joins {@code loop}: allocates the moments of the tensors this rank owns there. */
        private void join(StepLoop loop) {
            if (this.loop != null) {
                throw new IllegalArgumentException("a part belongs to one StepLoop");
            }
            this.loop = loop;
            for (int i = 0; i < groups.size(); i++) {
                adams.add(new Adam(groups.get(i), loop::owns, manager, beta1, beta2, eps, decays.get(i), decoupled));
            }
        }

        /** A part with the optimizer, schedule and clipping of {@code train.*}. */
        public static Part of(ParamStore store, TrainConfig c, boolean decoupled) {
            return of(store, k -> true, c, decoupled);
        }

        /** A part of the parameters {@code include} accepts, with the settings of {@code train.*}. */
        public static Part of(ParamStore store, java.util.function.Predicate<String> include, TrainConfig c,
                boolean decoupled) {
            return new Part(store, include, c.betas().get(0), c.betas().get(1), c.adamEps(), c.weightDecay(),
                    decoupled, LrSchedule.of(c), c.gradClipNorm());
        }

        /** @return optimizer steps this part took (once in a {@link StepLoop}) */
        public long step() {
            if (adams.isEmpty()) {
                throw new IllegalStateException("the part's optimizer is made by the StepLoop that takes it");
            }
            return adams.get(0).step();
        }

        /** @return the trainable parameters by key */
        public Map<String, NDArray> params() {
            return params;
        }

        /** @return the keys of each optimizer group: the weight-decayed first, then the others (empty groups left out) */
        public List<List<String>> groups() {
            return groups.stream().map(g -> List.copyOf(g.keySet())).toList();
        }

        /** @return optimizer moments ({@code exp_avg.<key>}, {@code exp_avg_sq.<key>}) as views ({@link Adam#state()}) */
        public Map<String, TensorData> optimizerState() {
            if (loop.shards == null) {
                Map<String, TensorData> s = new LinkedHashMap<>();
                adams.forEach(a -> s.putAll(a.state()));
                return s;
            }
            // sharded: every moment in the unsharded order; those of other ranks arrive from their owners as written
            Map<String, TensorData> s = new LinkedHashMap<>();
            for (int i = 0; i < groups.size(); i++) {
                Map<String, TensorData> own = adams.get(i).state();
                for (Map.Entry<String, NDArray> e : groups.get(i).entrySet()) {
                    for (String moment : new String[] {"exp_avg.", "exp_avg_sq."}) {
                        String name = moment + e.getKey();
                        s.put(name, own.containsKey(name) ? own.get(name) : loop.shards.remote(
                                e.getValue().getShape().getShape(), loop.owner.get(e.getKey()), loop::rendezvous));
                    }
                }
            }
            return s;
        }

        /** The other ranks' side of {@link #optimizerState()} written by rank 0 ({@link StepLoop#serveOptimizerState}). */
        private void serve() {
            for (int i = 0; i < groups.size(); i++) {
                for (Map.Entry<String, NDArray> e : groups.get(i).entrySet()) {
                    int owner = loop.owner.get(e.getKey());
                    for (boolean first : new boolean[] {true, false}) {
                        if (owner != 0) {
                            NDArray mine = owner == loop.collective.rank() ? adams.get(i).moment(e.getKey(), first) : null;
                            loop.shards.serve(e.getValue().size(), owner, mine);
                        }
                    }
                }
            }
        }

        /** @return bytes of the optimizer moments held on this rank */
        public long optimizerStateBytes() {
            return adams.stream().mapToLong(Adam::stateBytes).sum();
        }

        /** Restores the moments and the step count. */
        public void restore(Map<String, HostTensor> state, long step) {
            try {
                restore(TensorSource.of(state), step);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e); // cannot happen in memory
            }
        }

        /** Restores the moments (streamed one tensor at a time) and the step count. */
        public void restore(TensorSource state, long step) throws IOException {
            Adam.restore(state, step, adams.toArray(new Adam[0]));
        }

        private void update(Map<String, NDArray> grads, double lr) {
            for (int i = 0; i < adams.size(); i++) {
                adams.get(i).update(groups.get(i), grads, lr);
            }
        }
    }

    private final Collective collective;
    private final List<Part> parts;
    /** The all-reduce's bucket size and host buffers, reused from step to step. */
    private final GradientReduction.Buffer flat;
    /** Sharded optimizer state ({@link OptimizerShards}), or null (every rank holds every moment). */
    private final OptimizerShards shards;
    /** The owning rank of every parameter (unsharded: this rank, which holds every moment). */
    private final Map<String, Integer> owner = new LinkedHashMap<>();
    /** A rendezvous of the checkpoint writer with the ranks that serve it moments, run once per checkpoint. */
    private Runnable pendingRendezvous;

    /** @param parts disjoint parameter sets (keys must not repeat across parts); the default all-reduce bucket */
    public StepLoop(Collective collective, Part... parts) {
        this(collective, GradientReduction.DEFAULT_BUCKET_ELEMENTS, false, parts);
    }

    /**
     * @param config the run's settings: {@link TrainConfig#allreduceBucketMb} sizes the all-reduce's buckets
     * @param parts disjoint parameter sets (keys must not repeat across parts)
     */
    public StepLoop(Collective collective, TrainConfig config, Part... parts) {
        this(collective, GradientReduction.bucketElements(config.allreduceBucketMb()), config.shardOptimizerState(),
                parts);
    }

    /**
     * @param sharded each rank keeps and updates the optimizer moments of its own tensors only ({@link
     *     OptimizerShards}: ownership over the parameters of all parts in order; same results)
     */
    StepLoop(Collective collective, long bucketElements, boolean sharded, Part... parts) {
        this.flat = new GradientReduction.Buffer(bucketElements);
        this.collective = collective;
        this.parts = List.of(parts);
        this.shards = sharded ? new OptimizerShards(collective, bucketElements) : null;
        java.util.Set<String> seen = new java.util.HashSet<>();
        List<String> keys = new ArrayList<>();
        List<Long> sizes = new ArrayList<>();
        for (Part p : parts) {
            for (Map.Entry<String, NDArray> e : p.params.entrySet()) {
                if (!seen.add(e.getKey())) {
                    throw new IllegalArgumentException("parameter " + e.getKey() + " is in two parts");
                }
                keys.add(e.getKey());
                sizes.add(e.getValue().size());
            }
        }
        int[] owners = sharded ? OptimizerShards.owners(sizes.stream().mapToLong(Long::longValue).toArray(),
                collective.worldSize()) : new int[keys.size()];
        for (int i = 0; i < keys.size(); i++) {
            owner.put(keys.get(i), sharded ? owners[i] : collective.rank());
        }
        if (sharded) {
            for (Part p : parts) {
                OptimizerShards.check(p.params.values());
            }
        }
        for (Part p : parts) {
            p.join(this);
        }
    }

    /** @return whether this rank keeps the moments of parameter {@code key} */
    private boolean owns(String key) {
        return owner.get(key) == collective.rank();
    }

    /** @return whether the optimizer state is sharded over the ranks ({@code train.shard_optimizer_state}) */
    public boolean sharded() {
        return shards != null;
    }

    /** @return bytes of optimizer moments held on this rank (all parts) */
    public long optimizerStateBytes() {
        return parts.stream().mapToLong(Part::optimizerStateBytes).sum();
    }

    /**
     * Sharded, on the checkpoint writer (rank 0), around writing the parts' {@link Part#optimizerState}s
     * in part order: {@code rendezvous} runs once, before the first moment that another rank sends (so
     * the servers do not wait in a collective while the writer writes the model file), or at {@link
     * #endStream} if none was sent.
     */
    public void beginStream(Runnable rendezvous) {
        pendingRendezvous = rendezvous;
    }

    /** Ends what {@link #beginStream} began (runs its rendezvous if the stream did not). */
    public void endStream() {
        rendezvous();
    }

    private void rendezvous() {
        Runnable r = pendingRendezvous;
        pendingRendezvous = null;
        if (r != null) {
            r.run();
        }
    }

    /**
     * Sharded, on every rank but the checkpoint writer while it writes: runs {@code rendezvous} (the one of
     * {@link #beginStream}) then sends this rank's moments (and relays the others') in the writer's order:
     * every part's {@link Part#optimizerState}, parts in order.
     */
    public void serveOptimizerState(Runnable rendezvous) {
        if (collective.rank() == 0) {
            throw new IllegalStateException("rank 0 writes the optimizer state");
        }
        rendezvous.run();
        parts.forEach(Part::serve);
    }

    /** @return part {@code i} */
    public Part part(int i) {
        return parts.get(i);
    }

    /** @return the learning rate the next step of part {@code i} will use */
    public double nextLr(int i) {
        Part p = parts.get(i);
        return p.schedule.at(p.step() + 1);
    }

    /** One optimizer step: the hook's passes, one all-reduce, then every active part's update. */
    public Result step(Plan plan, Loss loss) {
        if (plan.active().length != parts.size()) {
            throw new IllegalArgumentException("plan names " + plan.active().length + " parts, the loop has " + parts.size());
        }
        long t0 = System.nanoTime();
        Map<String, NDArray> params = new LinkedHashMap<>();
        double[] lrs = new double[parts.size()];
        double[] norms = new double[parts.size()];
        for (int i = 0; i < parts.size(); i++) {
            if (plan.active()[i]) {
                params.putAll(parts.get(i).params);
                lrs[i] = nextLr(i);
            }
        }
        float[] stats;
        long hook = 0;
        long red;
        long opt;
        long bwd;
        long wait;
        long[] copies = {0};
        long sync = 0;
        try (NDScope scope = new NDScope()) { // frees the step's activations and gradient copies
            GradientAccumulator acc = new GradientAccumulator(params, plan.slots(), plan.accumulationSteps(), plan.stats());
            Micro micro = new Micro(acc);
            for (int a = 0; a < plan.accumulationSteps(); a++) {
                long s = System.nanoTime();
                JniUtils.setGradMode(true);
                try {
                    loss.accumulate(a, micro);
                } finally {
                    JniUtils.setGradMode(false);
                }
                hook += System.nanoTime() - s;
            }
            bwd = micro.backwardNanos;
            long a = System.nanoTime();
            stats = acc.stats();
            Map<String, NDArray> grads = GradientReduction.reduce(acc.gradients(), stats, plan.microBatches(),
                    collective, copies, flat);
            long b = System.nanoTime();
            red = b - a;
            wait = collective.worldSize() > 1 ? flat.waitNanos() : 0;
            for (int i = 0; i < parts.size(); i++) {
                if (plan.active()[i]) {
                    Part p = parts.get(i);
                    Map<String, NDArray> g = new LinkedHashMap<>();
                    p.params.keySet().forEach(k -> g.put(k, grads.get(k)));
                    norms[i] = GradientReduction.globalNorm(g);
                    GradientReduction.clip(g, norms[i], p.clipNorm);
                    p.update(g, lrs[i]);
                }
            }
            if (shards != null) { // every parameter from its owner (bits copied: the unsharded weights)
                List<NDArray> updated = new ArrayList<>();
                List<Integer> owners = new ArrayList<>();
                params.forEach((k, p) -> {
                    updated.add(p);
                    owners.add(owner.get(k));
                });
                long s = System.nanoTime();
                shards.sync(updated, owners.stream().mapToInt(Integer::intValue).toArray());
                sync = System.nanoTime() - s;
            }
            params.values().forEach(p -> JniUtils.zeroGrad((PtNDArray) p));
            opt = System.nanoTime() - b;
        }
        return new Result(lrs, norms, stats, (System.nanoTime() - t0) / 1e9,
                new Timings((hook - bwd) / 1e9, bwd / 1e9, red / 1e9, opt / 1e9, wait / 1e9, copies[0] / 1e9,
                sync / 1e9));
    }
}
