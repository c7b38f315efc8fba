package dev.rq.model.sid;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.Repo;
import dev.rq.model.config.SidRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.distributed.ThreadedCollectives;
import dev.rq.model.engine.Engines;
import dev.rq.model.nn.Tensors;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.util.Rng;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link SidTrainer} in one process: the autoencoder warm-up leaves the codebooks alone, and two
 * ranks (threads joined by an in-memory collective) holding the halves of every batch and of the
 * k-means sample train the bytes one rank trains (micro-batches of 4 items: 8 per step).
 */
class SidTrainerTest {

    static final int DIM = 16;
    static final int STEPS = 8;
    static final int WARMUP = 3;
    static final int SAMPLE = 256;

    @BeforeAll
    static void engine() {
        Engines.pytorch(1);
    }

    static SidRunConfig config() {
        try {
            return SidRunConfig.load(Repo.conf("sid/tiny.yaml"), List.of("kmeans.warmup_steps=" + WARMUP));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void twoRanksTrainTheBitsOfOneThroughWarmupAndKMeansInit() throws Exception {
        SidRunConfig c = config();
        Map<String, HostTensor> one = train(c, Collective.local());
        List<Map<String, HostTensor>> two = ThreadedCollectives.run(2, col -> train(c, col));
        assertThat(two.get(0).keySet()).containsExactlyElementsOf(one.keySet());
        for (String k : one.keySet()) {
            for (int r = 0; r < 2; r++) {
                assertThat(two.get(r).get(k).data()).as("%s of rank %d of 2 equals N=1", k, r)
                        .isEqualTo(one.get(k).data());
            }
        }
    }

    /** Trains STEPS steps on this rank's halves; checks the warm-up on the way. */
    static Map<String, HostTensor> train(SidRunConfig c, Collective col) {
        SyntheticItems gen = new SyntheticItems(8, DIM, 24, 4, 0.25);
        int b = c.train().batchSize();
        int n = col.worldSize();
        int r = col.rank();
        try (NDManager m = Engines.newManager(); SidModel model = SidModel.create(c.model(), m, 0)) {
            SidTrainer t = new SidTrainer(model, c.train(), WARMUP, col);
            float[] initial = model.codebook(2);
            for (int s = 0; s < STEPS; s++) {
                if (t.step() == WARMUP) {
                    assertThat(model.codebook(2)).as("codebooks untouched by the warm-up").containsExactly(initial);
                    int from = r * SAMPLE / n;
                    int to = (r + 1) * SAMPLE / n;
                    NDArray x = Tensors.of(m, gen.embeddings(10_000 + from, to - from), new Shape(to - from, DIM));
                    SidInit.kmeans(model, x, b, 4, Rng.of(5), col);
                }
                int per = b / n;
                NDArray x = Tensors.of(m, gen.embeddings((long) s * b + (long) r * per, per), new Shape(per, DIM));
                SidTrainer.Metrics mt = t.step(List.of(x));
                assertThat(mt.warmup()).as("step %d is a warm-up step", s + 1).isEqualTo(s < WARMUP);
                assertThat(mt.commit() > 0).as("step %d has a commitment loss", s + 1).isEqualTo(s >= WARMUP);
                assertThat(mt.items()).isEqualTo(b);
            }
            return model.stateDict();
        }
    }
}
