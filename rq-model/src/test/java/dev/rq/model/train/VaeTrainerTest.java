package dev.rq.model.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.Repo;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.util.SyntheticImages;
import dev.rq.model.vae.RqVae;
import java.util.List;
import org.junit.jupiter.api.Test;

class VaeTrainerTest {

    /** Lowest perplexity accepted per depth after the overfitting run below (measured: see the test's output). */
    static final double PERPLEXITY_FLOOR = 4.0;

    @Test
    void overfitsATinyBatch() throws Exception {
        RqVaeRunConfig c = Configs.loadRqVae(Repo.conf("rqvae/tiny.yaml"), List.of("train.batch_size=4"));
        Engines.pytorch(2);
        int res = c.model().ddconfig().resolution();
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(c.model(), m, 7)) {
            NDArray x = m.create(SyntheticImages.batch(4, res, 3), new Shape(4, 3, res, res));
            VaeTrainer t = new VaeTrainer(vae, c.train(), Collective.local());
            VaeStepMetrics first = t.step(List.of(x));
            VaeStepMetrics last = first;
            for (int i = 0; i < 60; i++) {
                last = t.step(List.of(x));
            }
            assertThat(first.loss()).isFinite();
            assertThat(last.loss()).as("loss %s -> %s", first.loss(), last.loss()).isLessThan(first.loss() / 5);
            assertThat(last.step()).isEqualTo(61);
            assertThat(last.perplexity()).hasSize(4);
            int k = c.model().hparams().codebookSize(0);
            for (int d = 0; d < 4; d++) {
                double p = last.perplexity()[d];
                double used = last.usedFraction()[d] * k;
                System.out.printf("VaeTrainerTest depth %d: perplexity %.3f, codes used %.0f of %d%n", d, p, used, k);
                // exp(entropy) of a code histogram lies between 1 and its number of used codes; with
                // restarts on, 256 latent vectors use many codes at every depth (a collapsed
                // codebook, or a perplexity computed in bits or from the wrong counts, fails here)
                assertThat(p).as("depth %d perplexity", d).isLessThanOrEqualTo(used + 1e-9).isGreaterThan(PERPLEXITY_FLOOR);
            }
            assertThat(last.images()).isEqualTo(4);
        }
    }

    @Test
    void gradientAccumulationMatchesOneBigBatch() throws Exception {
        // EMA updates run per micro-batch by design; make the codebook nearly immovable (decay
        // close to 1 and large, consistent EMA buffers) so that both runs see the same codebook,
        // then the accumulated gradient must equal the big-batch gradient.
        List<String> common = List.of("train.batch_size=4", "model.hparams.restart_unused_codes=false",
                "model.hparams.decay=0.999999");
        RqVaeRunConfig one = Configs.loadRqVae(Repo.conf("rqvae/tiny.yaml"), common);
        RqVaeRunConfig two = Configs.loadRqVae(Repo.conf("rqvae/tiny.yaml"),
                concat(common, "train.grad_accum_steps=2"));
        int res = one.model().ddconfig().resolution();
        Engines.pytorch(2);
        try (NDManager m = Engines.newManager(); RqVae a = RqVae.create(one.model(), m, 1);
                RqVae b = RqVae.create(two.model(), m, 1)) {
            for (RqVae v : List.of(a, b)) {
                NDArray w = v.params().get("quantizer.codebooks.0.weight");
                long k = w.getShape().get(0) - 1;
                v.params().get("quantizer.codebooks.0.cluster_size_ema").muli(0).addi(1e6f);
                v.params().set("quantizer.codebooks.0.embed_ema", w.get("0:" + k).mul(1e6f));
            }
            NDArray x = m.create(SyntheticImages.batch(4, res, 5), new Shape(4, 3, res, res));
            VaeStepMetrics ma = new VaeTrainer(a, one.train(), Collective.local()).step(List.of(x));
            VaeStepMetrics mb = new VaeTrainer(b, two.train(), Collective.local())
                    .step(List.of(x.get("0:2"), x.get("2:4")));
            assertThat(mb.loss()).isCloseTo(ma.loss(), org.assertj.core.data.Percentage.withPercentage(1e-3));
            assertThat(mb.reconLoss()).isCloseTo(ma.reconLoss(), org.assertj.core.data.Percentage.withPercentage(1e-3));
            assertThat(mb.gradNorm()).isCloseTo(ma.gradNorm(), org.assertj.core.data.Percentage.withPercentage(1e-3));
            assertThat(mb.images()).isEqualTo(ma.images());
        }
    }

    static List<String> concat(List<String> a, String b) {
        var l = new java.util.ArrayList<>(a);
        l.add(b);
        return l;
    }
}
