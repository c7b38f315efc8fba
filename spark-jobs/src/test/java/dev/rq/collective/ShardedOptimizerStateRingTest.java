package dev.rq.collective;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.config.TrainConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.train.OptimizerShards;
import dev.rq.model.train.StepLoop;
import dev.rq.model.util.Rng;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Sharded optimizer state ({@code train.shard_optimizer_state}) over the real {@link TcpRingCollective}: a
 * {@link StepLoop} with parameters larger than the 1,000-float buckets, AdamW with weight decay on some of them
 * and clipping, 3 steps of 6 micro-batches on N = 2 and N = 3 ranks: the sharded ranks end with the unsharded
 * ranks' weights bit for bit, rank 0 writes the unsharded optimizer file byte for byte while the others stream
 * their moments, and no array handed to the ring's broadcast exceeds a bucket; also with every tensor
 * staged through libtorch copies as on a GPU ({@link OptimizerShards#VIEWS} off).
 */
class ShardedOptimizerStateRingTest {

    private static final long[][] SHAPES = {{300, 7}, {5}, {1500}, {33}, {1}, {40, 40}};
    private static final int MICRO = 6;

    @BeforeAll
    static void start() {
        Engines.pytorch(1);
    }

    /** What a rank ends with: every weight's floats, in key order, and the optimizer file (rank 0). */
    private record Outcome(List<float[]> weights, byte[] optimizer, int longestBroadcast) {}

    @ParameterizedTest(name = "N = {0}, staged = {1}")
    @CsvSource({"2, false", "3, false", "2, true", "3, true"})
    void shardedRanksEqualUnshardedRanksOverTheRing(int n, boolean staged) {
        List<Outcome> plain = RingHarness.runOk(n, RingHarness.defaults(n, Duration.ofSeconds(30)), c -> train(c, false));
        List<Outcome> sharded;
        String before = System.getProperty(OptimizerShards.VIEWS);
        try {
            if (staged) { // every tensor through the GPU path's staged libtorch copies
                System.setProperty(OptimizerShards.VIEWS, "false");
            }
            sharded = RingHarness.runOk(n, RingHarness.defaults(n, Duration.ofSeconds(30)), c -> train(c, true));
        } finally {
            if (before == null) {
                System.clearProperty(OptimizerShards.VIEWS);
            } else {
                System.setProperty(OptimizerShards.VIEWS, before);
            }
        }
        for (int r = 0; r < n; r++) {
            for (int k = 0; k < SHAPES.length; k++) {
                TcpRingCollectiveTest.assertSameBits(plain.get(0).weights().get(k), sharded.get(r).weights().get(k),
                        "N=" + n + " rank " + r + " tensor " + k);
            }
            assertThat(sharded.get(r).longestBroadcast()).as("rank %d broadcasts at most a bucket", r)
                    .isLessThanOrEqualTo(1000).isPositive();
        }
        assertThat(Arrays.equals(sharded.get(0).optimizer(), plain.get(0).optimizer()))
                .as("optimizer file written sharded equals the unsharded one").isTrue();
        assertThat(plain.get(0).optimizer().length).isGreaterThan(8 * 4000);
    }

    private static Outcome train(Collective ring, boolean sharded) {
        AtomicInteger longest = new AtomicInteger();
        Collective c = new RecordingCollective(ring, new AtomicInteger(), longest);
        TrainConfig config = new TrainConfig(MICRO, 1, 1, 1e-2, List.of(0.9, 0.95), 1e-8, 0.1, 0, "constant", 0.0, 10,
                0.5, 0L, 0, 3, 1, null, "fp32", 0.004, sharded); // buckets of 1,000 floats
        try (NDManager m = Engines.newManager(); ParamStore store = new ParamStore(m)) {
            for (int k = 0; k < SHAPES.length; k++) {
                store.declare("p" + k, SHAPES[k], ParamStore.Init.NORMAL, 1, true, k % 2 == 0);
            }
            store.initialize(Rng.of(7));
            StepLoop loop = new StepLoop(c, config, StepLoop.Part.of(store, config, true));
            int slots = MICRO / c.worldSize();
            for (int step = 0; step < 3; step++) {
                int s = step;
                loop.step(new StepLoop.Plan(1, slots, 1, MICRO, true), (a, micro) -> {
                    for (int j = 0; j < slots; j++) {
                        int mb = c.rank() * slots + j; // the micro-batch: the same computation for every N
                        NDArray loss = null;
                        // scalars as tensors held until the backward pass (not mul(Number), see DeterminismTest)
                        NDArray w = m.create(0.1f * (mb + 1));
                        NDArray b = m.create(0.01f * (s + 1));
                        for (String key : store.trainableKeys()) {
                            NDArray p = store.get(key);
                            NDArray term = p.mul(p).mul(w).add(p.mul(b)).sum();
                            loss = loss == null ? term : loss.add(term);
                        }
                        micro.backward(loss);
                        micro.collect(j, loss.getFloat());
                    }
                });
            }
            JniUtils.setGradMode(false);
            List<float[]> weights = new ArrayList<>();
            for (String key : store.trainableKeys()) {
                weights.add(store.get(key).toFloatArray());
            }
            byte[] file = null;
            if (c.rank() == 0) {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                if (sharded) {
                    loop.beginStream(c::barrier);
                }
                SafeTensors.write(loop.part(0).optimizerState(), Map.of("format", "test"), out);
                if (sharded) {
                    loop.endStream();
                }
                file = out.toByteArray();
            } else if (sharded) {
                loop.serveOptimizerState(c::barrier);
            }
            c.barrier();
            return new Outcome(weights, file, longest.get());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
