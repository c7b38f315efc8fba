package dev.rq.model.vae;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.Repo;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.NoGrad;
import dev.rq.model.nn.Tensors;
import dev.rq.model.util.Rng;
import dev.rq.model.util.SyntheticImages;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The stage-1 options that are not in the official code: {@code model.hparams.green_magenta_loss_weight} (an extra
 * loss on the error's G − (R + B)/2 channel) and {@code model.hparams.restart_threshold} (the EMA count below which
 * a code is restarted; official 1).
 */
class StageOneLossOptionsTest {

    private static final Path TINY = Repo.conf("rqvae/tiny.yaml");

    @BeforeAll
    static void engine() {
        Engines.pytorch(1);
    }

    @Test
    void defaultsAreTheOfficialRulesAndBadValuesNameTheKey() throws Exception {
        RqVaeRunConfig c = Configs.loadRqVae(TINY, List.of());
        assertThat(c.model().hparams().greenMagentaLossWeight()).isEqualTo(0.0);
        assertThat(c.model().hparams().restartThreshold()).isEqualTo(1.0);
        for (String bad : List.of("-0.5", "NaN", "Infinity")) {
            assertThatThrownBy(() -> Configs.loadRqVae(TINY, List.of("model.hparams.green_magenta_loss_weight=" + bad)))
                    .isInstanceOf(ConfigException.class)
                    .hasMessageStartingWith("model.hparams.green_magenta_loss_weight:");
        }
        for (String bad : List.of("0", "-1", "1.5")) {
            assertThatThrownBy(() -> Configs.loadRqVae(TINY, List.of("model.hparams.restart_threshold=" + bad)))
                    .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.hparams.restart_threshold:");
        }
        assertThatThrownBy(() -> Configs.loadRqVae(Repo.conf("rqvae/in256-8x8x4.yaml"),
                List.of("model.hparams.green_magenta_loss_weight=1")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.hparams.green_magenta_loss_weight:");
    }

    @Test
    void greenMagentaWeightAddsTheWeightedLossOfTheOpponentChannel() throws Exception {
        for (String type : List.of("mse", "l1")) {
            RqVaeRunConfig plain = Configs.loadRqVae(TINY, List.of("model.hparams.loss_type=" + type));
            RqVaeRunConfig weighted = Configs.loadRqVae(TINY, List.of("model.hparams.loss_type=" + type,
                    "model.hparams.green_magenta_loss_weight=2.5"));
            try (NDManager m = Engines.newManager(); NoGrad ng = NoGrad.enter();
                    RqVae a = RqVae.create(plain.model(), m, 3); RqVae b = RqVae.create(weighted.model(), m, 3)) {
                float[] img = SyntheticImages.batch(2, 16, 7);
                NDArray x = Tensors.of(m, img, new Shape(2, 3, 16, 16));
                RqVae.Forward f = a.forward(x, false, Collective.local(), null);
                float[] r = f.recon().toFloatArray();
                double base = 0;
                double gm = 0;
                int hw = 16 * 16;
                for (int i = 0; i < 2; i++) {
                    for (int p = 0; p < hw; p++) {
                        double[] e = new double[3];
                        for (int ch = 0; ch < 3; ch++) {
                            int at = (i * 3 + ch) * hw + p;
                            e[ch] = r[at] - img[at];
                            base += type.equals("mse") ? e[ch] * e[ch] : Math.abs(e[ch]);
                        }
                        double g = e[1] - (e[0] + e[2]) / 2;
                        gm += type.equals("mse") ? g * g : Math.abs(g);
                    }
                }
                base /= 2 * 3 * hw;
                gm /= 2 * hw;
                assertThat(gm).as("a non-trivial error on the opponent channel").isGreaterThan(1e-4);
                assertThat((double) a.loss(x, f).recon().getFloat()).isCloseTo(base, org.assertj.core.data.Offset.offset(1e-5 * base));
                assertThat((double) b.loss(x, f).recon().getFloat())
                        .isCloseTo(base + 2.5 * gm, org.assertj.core.data.Offset.offset(1e-5 * (base + 2.5 * gm)));
            }
        }
    }

    @Test
    void codesAboveTheRestartThresholdAreKept() throws Exception {
        for (double threshold : new double[] {1.0, 0.1}) {
            RqVaeRunConfig c = Configs.loadRqVae(TINY, List.of("model.hparams.restart_threshold=" + threshold,
                    "model.hparams.code_shape=[8, 8, 1]")); // one codebook call
            try (NDManager m = Engines.newManager(); NoGrad ng = NoGrad.enter(); RqVae vae = RqVae.create(c.model(), m, 3)) {
                String key = "quantizer.codebooks.0.cluster_size_ema";
                float[] counts = new float[32];
                java.util.Arrays.fill(counts, 1000f); // every code well used ...
                counts[5] = 0.5f; // ... but code 5 (between the thresholds) and code 6 (below both)
                counts[6] = 0.05f;
                vae.params().get(key).set(new NDIndex(":"), Tensors.of(m, counts));
                // one point far from every code: it takes one code's assignment, no other code is used
                NDArray ze = Tensors.of(m, new float[16], new Shape(1, 1, 1, 16)).add(100f);
                vae.quantizer().quantize(ze, true, Collective.local(), new Rng(1));
                float[] after = vae.params().get(key).toFloatArray();
                assertThat(after[6]).as("code 6 restarted: count 1").isEqualTo(1f);
                if (threshold == 1.0) {
                    assertThat(after[5]).as("official rule: below 1, restarted").isEqualTo(1f);
                } else {
                    assertThat(after[5]).as("above the threshold: kept, decayed").isBetween(0.49f, 0.51f); // 0.5 · 0.99 (+ 0.01)
                }
                assertThat(vae.quantizer().codebook(0).lastDeadFraction()).isEqualTo(threshold == 1.0 ? 2 / 32.0 : 1 / 32.0);
            }
        }
    }
}
