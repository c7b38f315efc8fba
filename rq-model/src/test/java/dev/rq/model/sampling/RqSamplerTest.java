package dev.rq.model.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import dev.rq.model.config.SamplingConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.transformer.Stage2;
import dev.rq.model.util.Rng;
import dev.rq.model.vae.RqVae;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class RqSamplerTest {

    @Test
    void cachedSamplingEqualsUncachedFullForwardWithTheSameDraws() throws Exception {
        Stage2.Run run = Stage2.load("tiny", List.of());
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(run.vae(), m, 3);
                RqTransformer model = RqTransformer.create(run.config().model(), m, 4)) {
            RqSampler sampler = new RqSampler(model, vae);
            long[] cond = {1, 7, 3};
            // temperature 2 widens the distributions so that many different codes are drawn
            for (SamplingConfig s : List.of(SamplingConfig.of(2.0, 8, 0.9), SamplingConfig.of(2.0, null, null))) {
                long[] a = sampler.sample(cond, s, RqSampler.rowGenerators(11, 0, 3), true);
                long[] b = sampler.sample(cond, s, RqSampler.rowGenerators(11, 0, 3), false);
                assertThat(a).as("cached vs uncached, %s", s).containsExactly(b);
                assertThat(Arrays.stream(a).distinct().count()).isGreaterThan(5);
                // a row does not depend on the batch it is sampled in
                long[] second = sampler.sample(new long[] {7}, s, RqSampler.rowGenerators(11, 1, 1), true);
                int per = 8 * 8 * 4;
                assertThat(second).containsExactly(Arrays.copyOfRange(a, per, 2 * per));
            }
        }
    }

    @Test
    void topKKeepsTiesAndTopPUsesTheExclusiveRule() {
        float[] logits = {0f, 3f, 1f, 3f, 2f};
        float[] p = LogitSampler.probabilities(logits, 0, 5, 1.0, 2, 1.0);
        assertThat(p[0]).isZero();
        assertThat(p[2]).isZero();
        assertThat(p[4]).isZero();
        assertThat(p[1]).isEqualTo(0.5f);
        assertThat(p[3]).isEqualTo(0.5f);
        // top-k 3 keeps 3 values (≥ the third largest = 2)
        p = LogitSampler.probabilities(logits, 0, 5, 1.0, 3, 1.0);
        assertThat(p[4]).isPositive();
        assertThat(p[2]).isZero();
        // probabilities 0.5, 0.3, 0.2 → p = 0.5: the top-1 alone reaches p, the rest go
        float[] l2 = {(float) Math.log(0.5), (float) Math.log(0.3), (float) Math.log(0.2)};
        p = LogitSampler.probabilities(l2, 0, 3, 1.0, 0, 0.5);
        assertThat(p).containsExactly(1f, 0f, 0f);
        // p = 0.6: the first token crossing p (0.3) is kept
        p = LogitSampler.probabilities(l2, 0, 3, 1.0, 0, 0.6);
        assertThat(p[2]).isZero();
        assertThat(p[0] + p[1]).isCloseTo(1f, org.assertj.core.data.Offset.offset(1e-6f));
        assertThat(p[0] / p[1]).isCloseTo(5f / 3f, org.assertj.core.data.Offset.offset(1e-5f));
        // the draw inverts the CDF in vocabulary order
        assertThat(LogitSampler.draw(new float[] {0.25f, 0f, 0.75f}, 0.2)).isZero();
        assertThat(LogitSampler.draw(new float[] {0.25f, 0f, 0.75f}, 0.3)).isEqualTo(2);
        // temperature divides the logits
        float[] t = LogitSampler.probabilities(new float[] {0f, (float) Math.log(4)}, 0, 2, 2.0, 0, 1.0);
        assertThat(t[1] / t[0]).isCloseTo(2f, org.assertj.core.data.Offset.offset(1e-5f));
    }

    @Test
    void samplesAreDeterministicPerSeed() throws Exception {
        Stage2.Run run = Stage2.load("tiny", List.of());
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(run.vae(), m, 3);
                RqTransformer model = RqTransformer.create(run.config().model(), m, 4)) {
            RqSampler sampler = new RqSampler(model, vae);
            SamplingConfig s = run.config().sampling();
            long[] a = sampler.sample(null, s, RqSampler.rowGenerators(5, 0, 2), true);
            long[] b = sampler.sample(null, s, RqSampler.rowGenerators(5, 0, 2), true);
            long[] c = sampler.sample(null, s, RqSampler.rowGenerators(6, 0, 2), true);
            assertThat(a).containsExactly(b);
            assertThat(a).isNotEqualTo(c);
            for (long v : a) {
                assertThat(v).isBetween(0L, 31L);
            }
        }
    }
}
