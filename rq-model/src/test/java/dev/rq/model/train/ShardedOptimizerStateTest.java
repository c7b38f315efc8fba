package dev.rq.model.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.Repo;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.checkpoint.LocalDir;
import dev.rq.model.checkpoint.Manifest;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.TrainConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.distributed.ThreadedCollectives;
import dev.rq.model.engine.Engines;
import dev.rq.model.nn.Tensors;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.safetensors.TensorData;
import dev.rq.model.safetensors.TensorSource;
import dev.rq.model.util.SyntheticImages;
import dev.rq.model.vae.RqVae;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Sharded optimizer state ({@code train.shard_optimizer_state}, {@link OptimizerShards}): N = 2 and N = 3
 * ranks that each keep the Adam moments of their own tensors give, after K steps, the weights of
 * unsharded N ranks bit for bit (N = 2: also of N = 1), and the optimizer file rank 0 streams from the
 * owners is the unsharded one byte for byte; a run resumed sharded or unsharded from a file written
 * either way continues bit-identically; each rank holds a share of the moments, the shares add up. Collectives in process ({@link ThreadedCollectives}); the parameter sync
 * and the stream run in tiny buckets (buckets of 1000 floats, tensors spanning several).
 */
class ShardedOptimizerStateTest {

    private static final int BATCH = 12; // six micro-batches of 2: shared by 1, 2 or 3 ranks
    private static final int STEPS = 3;

    private static RqVaeRunConfig config(boolean sharded) throws Exception {
        return Configs.loadRqVae(Repo.conf("rqvae/tiny.yaml"), List.of("train.batch_size=" + BATCH,
                "train.micro_batch_size=2", "train.allreduce_bucket_mb=0.004", "train.weight_decay=0.01",
                "train.grad_clip_norm=0.5", "train.shard_optimizer_state=" + sharded));
    }

    /** What a run leaves: weights (and buffers), the optimizer file rank 0 writes, per-rank moment bytes. */
    record Outcome(Map<String, byte[]> weights, byte[] optimizerFile, long stateBytes, List<Double> losses, long rng) {}

    @Test
    void ownersAreContiguousSizeBalancedAndDependOnlyOnSizes() {
        long[] sizes = {100, 1, 1, 50, 50, 200, 7, 0, 91};
        int[] two = OptimizerShards.owners(sizes, 2);
        assertThat(two).containsExactly(0, 0, 0, 0, 0, 1, 1, 1, 1);
        int[] three = OptimizerShards.owners(sizes, 3); // midpoints 50, 100.5, 101.5, 127, 177, 302, 403.5, 409, 454.5 of 500
        assertThat(three).containsExactly(0, 0, 0, 0, 1, 1, 2, 2, 2);
        assertThat(OptimizerShards.owners(sizes, 3)).containsExactly(three);
        assertThat(OptimizerShards.owners(sizes, 1)).containsOnly(0);
        // more ranks than tensors: ranks without tensors, never out of range
        assertThat(OptimizerShards.owners(new long[] {5, 5}, 4)).containsExactly(1, 3);
        // a billion-parameter list: balanced within the largest tensor, no overflow
        long[] big = new long[400];
        Arrays.fill(big, 9_500_000L);
        big[0] = 50_000L * 4096;
        int[] o = OptimizerShards.owners(big, 8);
        long[] per = new long[8];
        for (int i = 0; i < big.length; i++) {
            per[o[i]] += big[i];
            assertThat(i == 0 || o[i] >= o[i - 1]).isTrue();
        }
        long total = Arrays.stream(big).sum();
        for (long p : per) {
            assertThat(Math.abs(p - total / 8)).isLessThanOrEqualTo(big[0]);
        }
    }

    @Test
    void tensorsThatCannotBeReadInPlaceFailWhenTheLoopIsMade() throws Exception {
        Engines.pytorch(1);
        TrainConfig c = TrainConfig.defaults().withShardedOptimizerState(true);
        try (NDManager m = Engines.newManager(); dev.rq.model.nn.ParamStore store = new dev.rq.model.nn.ParamStore(m)) {
            store.declare("w", new long[] {4, 3}, dev.rq.model.nn.ParamStore.Init.NORMAL, 1, true);
            store.initialize(dev.rq.model.util.Rng.of(1));
            store.set("w", store.get("w").toType(ai.djl.ndarray.types.DataType.FLOAT64, true));
            org.assertj.core.api.Assertions.assertThatThrownBy(
                    () -> new StepLoop(Collective.local(), c, StepLoop.Part.of(store, c, true)))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("train.shard_optimizer_state")
                    .hasMessageContaining("float64");
            // unsharded, the same parameters are fine
            new StepLoop(Collective.local(), TrainConfig.defaults(), StepLoop.Part.of(store, TrainConfig.defaults(), true));
        }
    }

    @Test
    void shardedRanksEqualUnshardedRanksBitForBit() throws Exception {
        Engines.pytorch(1);
        float[] images = images();
        Outcome one = run(config(false), 1, images, null).get(0);
        for (int n : new int[] {2, 3}) {
            // unsharded N = 2 equals N = 1 (the trainer's guarantee for N = 1 and 2); N = 3 sums the three
            // ranks' gradients in another order than one rank's tree, unsharded or not: sharded N is compared
            // with unsharded N, and N = 2 also with N = 1
            Outcome unsharded = run(config(false), n, images, null).get(0);
            if (n == 2) {
                assertSame(unsharded, one, "unsharded N=2 vs N=1");
            }
            List<Outcome> ranks = run(config(true), n, images, null);
            long sum = 0;
            for (int r = 0; r < n; r++) {
                Outcome o = ranks.get(r);
                assertThat(differing(o.weights(), unsharded.weights())).as("N=%d rank %d: weights differing", n, r)
                        .isEmpty();
                assertThat(o.losses()).as("N=%d losses", n).isEqualTo(unsharded.losses());
                assertThat(o.stateBytes()).as("rank %d holds a share of the moments", r).isLessThan(one.stateBytes());
                sum += o.stateBytes();
            }
            assertThat(sum).as("the shares make up the whole, N=%d", n).isEqualTo(one.stateBytes());
            assertThat(Arrays.equals(ranks.get(0).optimizerFile(), unsharded.optimizerFile()))
                    .as("optimizer file written sharded, N=%d, equals the unsharded one", n).isTrue();
        }
    }

    @Test
    void shardedRunResumesBitIdenticallyWithAnyNumberOfRanks() throws Exception {
        Engines.pytorch(1);
        float[] images = images();
        Outcome full = run(config(false), 1, images, null).get(0);
        // the first 2 steps unsharded on one rank; then resumed sharded on 2 ranks for the last step
        Outcome first = run(new RunSpec(config(false), 2), 1, images, null).get(0);
        Resume from = new Resume(first, 2);
        List<Outcome> resumed = run(config(true), 2, images, from);
        for (Outcome o : resumed) {
            assertThat(differing(o.weights(), full.weights())).as("resumed sharded N=2: weights differing").isEmpty();
        }
        assertThat(Arrays.equals(resumed.get(0).optimizerFile(), full.optimizerFile())).as("optimizer file").isTrue();
        // a checkpoint written sharded on 2 ranks, resumed unsharded on 1
        Outcome shardedFirst = run(new RunSpec(config(true), 2), 2, images, null).get(0);
        assertThat(Arrays.equals(shardedFirst.optimizerFile(), first.optimizerFile())).as("step-2 file").isTrue();
        Outcome back = run(config(false), 1, images, new Resume(shardedFirst, 2)).get(0);
        assertSame(back, full, "sharded N=2 checkpoint resumed unsharded on N=1");
        // resumed on 3 ranks: sharded continues as unsharded does from the same checkpoint
        Outcome three = run(config(false), 3, images, from).get(0);
        List<Outcome> threeSharded = run(config(true), 3, images, from);
        for (Outcome o : threeSharded) {
            assertThat(differing(o.weights(), three.weights())).as("resumed sharded N=3: weights differing").isEmpty();
        }
        assertThat(Arrays.equals(threeSharded.get(0).optimizerFile(), three.optimizerFile())).as("N=3 file").isTrue();
    }

    /**
     * The GPU path on the CPU: tensors that cannot be read in place (a transposed parameter, always; every
     * tensor with {@link OptimizerShards#VIEWS} off) are synced and streamed through staged libtorch copies
     * of the bucket pieces, as on a GPU. A {@link StepLoop} over parameters larger than the 1,000-float
     * buckets, one of them transposed (non-contiguous), AdamW with decay on some and clipping, 3 steps of 6
     * micro-batches: every sharded rank ends with unsharded rank 0's weights bit for bit, rank 0's optimizer
     * file is the unsharded one byte for byte, and the transposed parameter is still the same
     * non-contiguous tensor (written in place).
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "N = {0}, staged = {1}")
    @org.junit.jupiter.params.provider.CsvSource({"2, false", "2, true", "3, false", "3, true"})
    void stagedCopiesAndATransposedParameterGiveTheUnshardedBits(int n, boolean staged) throws Exception {
        Engines.pytorch(1);
        List<Loop> plain = ThreadedCollectives.run(n, c -> loop(c, false));
        String before = System.getProperty(OptimizerShards.VIEWS);
        List<Loop> sharded;
        try {
            if (staged) {
                System.setProperty(OptimizerShards.VIEWS, "false");
            }
            sharded = ThreadedCollectives.run(n, c -> loop(c, true));
        } finally {
            if (before == null) {
                System.clearProperty(OptimizerShards.VIEWS);
            } else {
                System.setProperty(OptimizerShards.VIEWS, before);
            }
        }
        for (int r = 0; r < n; r++) {
            assertThat(differing(sharded.get(r).weights(), plain.get(0).weights()))
                    .as("N=%d staged=%s rank %d: weights differing", n, staged, r).isEmpty();
            assertThat(sharded.get(r).transposedStaysNonContiguous()).as("rank %d: p1 trained, written in place", r).isTrue();
        }
        assertThat(plain.get(0).transposedStaysNonContiguous()).isTrue();
        assertThat(Arrays.equals(sharded.get(0).optimizerFile(), plain.get(0).optimizerFile()))
                .as("optimizer file written sharded equals the unsharded one").isTrue();
        assertThat(plain.get(0).optimizerFile().length).isGreaterThan(8 * 4000);
    }

    /**
     * The sync outside a step, with grad mode on (a thread's default): a staged write into a parameter that
     * requires grad is not an autograd in-place operation (libtorch refuses those on leaves), as the
     * in-place views are not; afterwards grad mode is as before and both ranks hold the owners' values.
     */
    @Test
    @org.junit.jupiter.api.Timeout(60) // a rank that fails leaves the other waiting in the in-process collective
    void stagedSyncWritesParametersThatRequireGradWithGradModeOn() throws Exception {
        Engines.pytorch(1);
        String before = System.getProperty(OptimizerShards.VIEWS);
        System.setProperty(OptimizerShards.VIEWS, "false");
        try {
            List<float[][]> out = ThreadedCollectives.run(2, c -> {
                try (NDManager m = Engines.newManager()) {
                    List<NDArray> ps = new ArrayList<>();
                    for (int k = 0; k < 2; k++) {
                        float[] v = new float[7];
                        Arrays.fill(v, 10 * c.rank() + k);
                        NDArray p = Tensors.of(m, v, new Shape(7));
                        p.setRequiresGradient(true);
                        ps.add(p);
                    }
                    ai.djl.pytorch.jni.JniUtils.setGradMode(true);
                    new OptimizerShards(c, 3).sync(ps, new int[] {0, 1});
                    boolean still = ai.djl.pytorch.jni.JniUtils.isGradMode();
                    ai.djl.pytorch.jni.JniUtils.setGradMode(false);
                    return new float[][] {ps.get(0).toFloatArray(), ps.get(1).toFloatArray(), {still ? 1 : 0}};
                }
            });
            for (float[][] r : out) {
                assertThat(r[0]).containsOnly(0f); // tensor 0 from rank 0
                assertThat(r[1]).containsOnly(11f); // tensor 1 from rank 1
                assertThat(r[2]).containsExactly(1f);
            }
        } finally {
            if (before == null) {
                System.clearProperty(OptimizerShards.VIEWS);
            } else {
                System.setProperty(OptimizerShards.VIEWS, before);
            }
        }
    }

    /** What a rank of {@link #loop} ends with. */
    record Loop(Map<String, byte[]> weights, byte[] optimizerFile, boolean transposedStaysNonContiguous) {}

    private static final long[][] LOOP_SHAPES = {{300, 7}, {45, 40}, {5}, {1500}, {33}, {1}};

    private static Loop loop(Collective c, boolean sharded) {
        int micro = 6;
        TrainConfig config = new TrainConfig(micro, 1, 1, 1e-2, List.of(0.9, 0.95), 1e-8, 0.1, 0, "constant", 0.0, 10,
                0.5, 0L, 0, 3, 1, null, "fp32", 0.004, sharded); // buckets of 1,000 floats
        try (NDManager m = Engines.newManager(); dev.rq.model.nn.ParamStore store = new dev.rq.model.nn.ParamStore(m)) {
            for (int k = 0; k < LOOP_SHAPES.length; k++) {
                store.declare("p" + k, LOOP_SHAPES[k], dev.rq.model.nn.ParamStore.Init.NORMAL, 1, true, k % 2 == 0);
            }
            store.initialize(dev.rq.model.util.Rng.of(7));
            // p1 as the transpose of a contiguous (40, 45) tensor: the same values, a non-contiguous layout
            NDArray rows = store.get("p1").stopGradient().transpose().flatten().reshape(40, 45); // a contiguous copy
            NDArray transposed = rows.transpose();
            store.set("p1", transposed);
            float[] initial = transposed.toFloatArray();
            boolean before = !GradientReduction.contiguous(transposed);
            StepLoop loop = new StepLoop(c, config, StepLoop.Part.of(store, config, true));
            int slots = micro / c.worldSize();
            for (int step = 0; step < 3; step++) {
                int s = step;
                loop.step(new StepLoop.Plan(1, slots, 1, micro, true), (a, mic) -> {
                    for (int j = 0; j < slots; j++) {
                        int mb = c.rank() * slots + j; // the micro-batch: the same computation for every N
                        NDArray loss = null;
                        NDArray w = m.create(0.1f * (mb + 1));
                        NDArray b = m.create(0.01f * (s + 1));
                        for (String key : store.trainableKeys()) {
                            NDArray p = store.get(key);
                            NDArray term = p.mul(p).mul(w).add(p.mul(b)).sum();
                            loss = loss == null ? term : loss.add(term);
                        }
                        mic.backward(loss);
                        mic.collect(j, loss.getFloat());
                    }
                });
            }
            ai.djl.pytorch.jni.JniUtils.setGradMode(false);
            // the same tensor, still non-contiguous, and trained (its gradient reached Adam)
            boolean after = store.get("p1") == transposed && !GradientReduction.contiguous(transposed)
                    && !Arrays.equals(initial, transposed.toFloatArray());
            Map<String, byte[]> weights = new LinkedHashMap<>();
            for (String key : store.trainableKeys()) {
                NDArray p = store.get(key);
                java.nio.ByteBuffer bb = java.nio.ByteBuffer.allocate(Math.toIntExact(p.size() * 4));
                bb.asFloatBuffer().put(p.toFloatArray());
                weights.put(key, bb.array());
            }
            byte[] file = writeOptimizer(loop, c, () -> loop.part(0).optimizerState());
            return new Loop(weights, file, before && after);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A checkpoint to resume from: its weights, optimizer file and step. */
    record Resume(Outcome at, int step) {}

    private static float[] images() throws Exception {
        int res = config(false).model().ddconfig().resolution();
        return SyntheticImages.batch(BATCH * STEPS, res, 17);
    }

    /** {@code STEPS} steps (or {@code c}'s max steps if fewer) of a tiny RQ-VAE on {@code n} ranks. */
    private static List<Outcome> run(RunSpec c, int n, float[] images, Resume from) throws Exception {
        TensorSource source = from == null ? null : optimizerSource(from.at().optimizerFile());
        return ThreadedCollectives.run(n, collective -> {
            try {
                return rank(c, collective, images, from, source);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    private static List<Outcome> run(RqVaeRunConfig c, int n, float[] images, Resume from) throws Exception {
        return run(new RunSpec(c, STEPS), n, images, from);
    }

    /**
     * The optimizer file as a resume reads it: from a checkpoint directory on disk ({@link LocalDir}),
     * a sharded rank reading only its own moments' byte ranges, an unsharded one the verified stream.
     */
    private static TensorSource optimizerSource(byte[] file) throws IOException {
        Path dir = Files.createTempDirectory("sharded-resume");
        Files.write(dir.resolve(Checkpoints.OPTIMIZER), file);
        dir.toFile().deleteOnExit();
        dir.resolve(Checkpoints.OPTIMIZER).toFile().deleteOnExit();
        Manifest manifest = new Manifest(Checkpoints.FORMAT, Checkpoints.FORMAT_VERSION, "test", null, null, 0, 0,
                Map.of(Checkpoints.OPTIMIZER, new Manifest.FileEntry(Checkpoints.sha256(file), file.length)),
                Map.of(), "");
        return new Checkpoints.Loaded(new LocalDir(dir), manifest).optimizerSource();
    }

    /** A config and the step to stop after. */
    record RunSpec(RqVaeRunConfig config, int steps) {}

    private static Outcome rank(RunSpec spec, Collective collective, float[] images, Resume from, TensorSource source)
            throws IOException {
        RqVaeRunConfig c = spec.config();
        int res = c.model().ddconfig().resolution();
        int n = collective.worldSize();
        int share = BATCH / n;
        int per = 3 * res * res;
        try (NDManager m = Engines.newManager()) {
            RqVae vae = from == null ? RqVae.create(c.model(), m, 5)
                    : RqVae.fromStateDict(c.model(), hostWeights(from.at().weights(), c, m), m);
            VaeTrainer t = new VaeTrainer(vae, c.train(), collective);
            int start = 0;
            if (from != null) {
                t.restore(source, from.step(), from.at().rng()); // each rank reads and keeps only its own moments
                start = from.step();
            }
            List<Double> losses = new ArrayList<>();
            for (int s = start; s < spec.steps(); s++) {
                int off = (s * BATCH + collective.rank() * share) * per;
                NDArray x = Tensors.of(m, Arrays.copyOfRange(images, off, off + share * per), new Shape(share, 3, res, res));
                losses.add(t.step(List.of(x)).loss());
                x.close();
            }
            Map<String, byte[]> weights = new LinkedHashMap<>();
            vae.stateDict().forEach((k, v) -> weights.put(k, v.data()));
            byte[] file = writeOptimizer(t.stepLoop(), collective, t::optimizerState);
            return new Outcome(weights, file, t.stepLoop().optimizerStateBytes(), losses, t.rngState());
        }
    }

    /** The optimizer file as rank 0 writes it (the other ranks serve their moments); null elsewhere. */
    static byte[] writeOptimizer(StepLoop loop, Collective collective,
            java.util.function.Supplier<Map<String, TensorData>> state) throws IOException {
        if (collective.rank() == 0) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            if (loop.sharded()) {
                loop.beginStream(collective::barrier);
            }
            SafeTensors.write(state.get(), Map.of("format", "test"), out);
            if (loop.sharded()) {
                loop.endStream();
            }
            collective.barrier();
            return out.toByteArray();
        }
        if (loop.sharded()) {
            loop.serveOptimizerState(collective::barrier);
        }
        collective.barrier();
        return null;
    }

    private static Map<String, HostTensor> hostWeights(Map<String, byte[]> w, RqVaeRunConfig c, NDManager m) {
        RqVae shapes = RqVae.create(c.model(), m, 0);
        Map<String, HostTensor> out = new LinkedHashMap<>();
        shapes.stateDict().forEach((k, v) -> out.put(k, new HostTensor(v.dtype(), v.shape(), w.get(k))));
        shapes.close();
        return out;
    }

    private static void assertSame(Outcome a, Outcome b, String what) {
        assertThat(differing(a.weights(), b.weights())).as("%s: weights differing", what).isEmpty();
        assertThat(Arrays.equals(a.optimizerFile(), b.optimizerFile())).as("%s: optimizer file", what).isTrue();
    }

    /** @return the keys whose bytes differ (or that only one side has) */
    static List<String> differing(Map<String, byte[]> a, Map<String, byte[]> b) {
        List<String> out = new ArrayList<>();
        for (String k : b.keySet()) {
            if (!a.containsKey(k) || !Arrays.equals(a.get(k), b.get(k))) {
                out.add(k);
            }
        }
        a.keySet().stream().filter(k -> !b.containsKey(k)).forEach(out::add);
        return out;
    }
}
