package dev.rq.model.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.SamplingConfig;
import dev.rq.model.config.TransformerConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.distributed.ThreadedCollectives;
import dev.rq.model.engine.Engines;
import dev.rq.model.nn.Tensors;
import dev.rq.model.sampling.RqSampler;
import dev.rq.model.vae.RqVae;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

/**
 * Classifier-free guidance ({@code model.cond_drop_prob}, {@code sampling.cfg_scale}; not in the
 * official code): off by default with the official shapes; the null class is one extra {@code
 * cond_emb} row; the dropped samples come from per-sample keyed streams (N = 2 ranks train what one
 * rank trains); guided sampling keeps the cached ≡ uncached and batch-independence properties, and
 * scale 0 is exactly sampling conditioned on the null class.
 */
class ClassifierFreeGuidanceTest {

    private static final List<String> HARD = List.of("loss.type=cross_entropy", "train.batch_size=4");

    @Test
    void offByDefaultAndTheNullClassIsOneExtraRow() throws Exception {
        TransformerConfig off = Stage2.load("tiny", List.of()).config().model();
        TransformerConfig on = Stage2.load("tiny", List.of("model.cond_drop_prob=0.1")).config().model();
        assertThat(off.condDropProb()).isZero();
        assertThat(off.hasNullClass()).isFalse();
        assertThat(off.condEmbRows()).isEqualTo(10);
        assertThatThrownBy(off::nullClass).isInstanceOf(IllegalStateException.class);
        assertThat(on.condEmbRows()).isEqualTo(11);
        assertThat(on.nullClass()).isEqualTo(10);
        assertThat(on.condVocab()).isEqualTo(10);
        try (NDManager m = Engines.newManager(); RqTransformer a = RqTransformer.create(off, m, 7);
                RqTransformer b = RqTransformer.create(on, m, 7)) {
            assertThat(b.params().keys()).isEqualTo(a.params().keys());
            assertThat(a.params().get("cond_emb.weight").getShape().get(0)).isEqualTo(10);
            assertThat(b.params().get("cond_emb.weight").getShape().get(0)).isEqualTo(11);
        }
    }

    @Test
    void configErrorsNameTheKey() throws Exception {
        assertThatThrownBy(() -> Stage2.load("tiny", List.of("model.cond_drop_prob=1.0")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.cond_drop_prob:");
        assertThatThrownBy(() -> Stage2.load("tiny", List.of("model.cond_drop_prob=-0.1")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.cond_drop_prob:");
        assertThatThrownBy(() -> Stage2.load("tiny", List.of("model.cond_drop_prob=0.1", "model.vocab_size_cond=0")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.cond_drop_prob:")
                .hasMessageContaining("class condition");
        assertThatThrownBy(() -> Stage2.load("tiny", List.of("sampling.cfg_scale=2.0")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("sampling.cfg_scale:")
                .hasMessageContaining("model.cond_drop_prob");
        assertThatThrownBy(() -> Stage2.load("tiny", List.of("model.cond_drop_prob=0.1", "sampling.cfg_scale=-1")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("sampling.cfg_scale:");
        assertThat(Stage2.load("tiny", List.of()).config().sampling().guided()).isFalse();
    }

    @Test
    void dropsAreKeyedBySampleNotByRank() throws Exception {
        // p = 0.5 drops some of the 4 samples of step 1 (their choice depends on (seed, step, index) only)
        double p = 0.5;
        boolean[] drop = new boolean[4];
        int dropped = 0;
        for (int i = 0; i < 4; i++) {
            drop[i] = TransformerTrainer.dropsCondition(0, 1, i, p);
            dropped += drop[i] ? 1 : 0;
        }
        assertThat(dropped).as("dropped of 4 at p 0.5").isBetween(1, 3);
        long[] labels = {1, 2, 3, 4};
        long[] replaced = labels.clone();
        for (int i = 0; i < 4; i++) {
            replaced[i] = drop[i] ? 10 : labels[i];
        }
        Stage2.Run on = Stage2.load("tiny", withHard("model.cond_drop_prob=" + p));
        Stage2.Run rare = Stage2.load("tiny", withHard("model.cond_drop_prob=1.0e-12"));
        Engines.pytorch(1);
        // the trainer replaces exactly those labels: p = 0.5 on the labels ≡ (almost) no drops on the replaced ones
        Map<String, float[]> a = trainOneStep(on, Collective.local(), labels, 0, 4);
        Map<String, float[]> b = trainOneStep(rare, Collective.local(), replaced, 0, 4);
        Map<String, float[]> plain = trainOneStep(rare, Collective.local(), labels, 0, 4);
        assertThat(a.keySet()).isEqualTo(b.keySet());
        for (String k : a.keySet()) {
            assertThat(b.get(k)).as(k).containsExactly(a.get(k));
        }
        assertThat(plain.get("cond_emb.weight")).isNotEqualTo(a.get("cond_emb.weight"));
        // two ranks, each with half of the batch, apply the update of one rank with the whole batch
        List<Map<String, float[]>> two = ThreadedCollectives.run(2,
                col -> trainOneStep(on, col, Arrays.copyOfRange(labels, 2 * col.rank(), 2 * col.rank() + 2),
                        2 * col.rank(), 2));
        for (String k : a.keySet()) {
            float[] one = a.get(k);
            for (int r = 0; r < 2; r++) {
                float[] got = two.get(r).get(k);
                for (int i = 0; i < one.length; i++) {
                    assertThat(got[i]).as("%s[%d] rank %d of 2", k, i, r).isCloseTo(one[i], Offset.offset(1e-5f));
                }
            }
        }
    }

    private static List<String> withHard(String o) {
        List<String> l = new ArrayList<>(HARD);
        l.add(o);
        return l;
    }

    /** One step on samples first..first+n−1 of a fixed 4-sample batch of codes; the parameters after it. */
    private static Map<String, float[]> trainOneStep(Stage2.Run run, Collective col, long[] labels, int first, int n) {
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(run.vae(), m, 1);
                RqTransformer model = RqTransformer.create(run.config().model(), m, 2)) {
            int per = 8 * 8 * 4;
            long[] all = TransformerTrainerTest.randomCodes(4 * per, 32, 9);
            NDArray codes = Tensors.of(m, Arrays.copyOfRange(all, first * per, (first + n) * per)).reshape(n, 8, 8, 4);
            TransformerTrainer t = new TransformerTrainer(model, vae, run.config(), col);
            t.step(List.of(TransformerTrainer.MicroBatch.ofCodes(codes, labels)));
            Map<String, float[]> out = new LinkedHashMap<>();
            for (String k : model.params().keys()) {
                out.put(k, model.params().get(k).toFloatArray());
            }
            return out;
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    @Test
    void guidedSamplingIsCachedExactBatchIndependentAndScaleZeroIsTheNullClass() throws Exception {
        Stage2.Run run = Stage2.load("tiny", List.of("model.cond_drop_prob=0.1"));
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(run.vae(), m, 3);
                RqTransformer model = RqTransformer.create(run.config().model(), m, 4)) {
            RqSampler sampler = new RqSampler(model, vae);
            long[] cond = {1, 7, 3};
            int per = 8 * 8 * 4;
            SamplingConfig plain = SamplingConfig.of(2.0, 8, 0.9);
            SamplingConfig guided = plain.withCfgScale(3.0);
            long[] a = sampler.sample(cond, guided, RqSampler.rowGenerators(11, 0, 3), true);
            long[] b = sampler.sample(cond, guided, RqSampler.rowGenerators(11, 0, 3), false);
            assertThat(a).as("guided: cached vs uncached").containsExactly(b);
            assertThat(a).hasSize(3 * per);
            long[] second = sampler.sample(new long[] {7}, guided, RqSampler.rowGenerators(11, 1, 1), true);
            assertThat(second).containsExactly(Arrays.copyOfRange(a, per, 2 * per));
            long[] unguided = sampler.sample(cond, plain, RqSampler.rowGenerators(11, 0, 3), true);
            assertThat(unguided).isNotEqualTo(a);
            // u + 0·(c − u) = u: scale 0 draws exactly the codes of plain sampling conditioned on the null class
            long[] zero = sampler.sample(cond, plain.withCfgScale(0.0), RqSampler.rowGenerators(11, 0, 3), true);
            long[] nul = sampler.sample(new long[] {10, 10, 10}, plain, RqSampler.rowGenerators(11, 0, 3), true);
            assertThat(zero).containsExactly(nul);
            assertThat(zero).isNotEqualTo(unguided);
        }
        // a model without a null class cannot be guided
        Stage2.Run off = Stage2.load("tiny", List.of());
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(off.vae(), m, 3);
                RqTransformer model = RqTransformer.create(off.config().model(), m, 4)) {
            RqSampler sampler = new RqSampler(model, vae);
            assertThatThrownBy(() -> sampler.sample(new long[] {1}, SamplingConfig.of(1.0, null, null).withCfgScale(2),
                    RqSampler.rowGenerators(1, 0, 1), true))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("sampling.cfg_scale");
        }
    }
}
