package dev.rq.model.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import dev.rq.model.Repo;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.TransformerConfig;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.engine.Engines;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code model.pos_emb_hw_init}: the official N(0, 0.02) init and the 2-D sine-cosine one. */
class PositionInitTest {

    private static TransformerConfig tiny(String... overrides) throws Exception {
        return TransformerRunConfig.load(Repo.conf("rqtransformer/tiny.yaml"), List.of(overrides)).model();
    }

    @Test
    void sincosTableEncodesRowAndColumn() {
        int h = 3, w = 5, d = 8, q = d / 4;
        float[] v = RqTransformer.sincos2d(h, w, d);
        assertThat(v).hasSize(h * w * d);
        // position (r = 2, c = 3): t = 13; ω_0 = 1, ω_1 = 10000^(-1/2) = 0.01
        int o = (2 * w + 3) * d;
        assertThat(v[o]).isCloseTo((float) Math.sin(2), within(1e-6f));
        assertThat(v[o + 1]).isCloseTo((float) Math.sin(2 * 0.01), within(1e-6f));
        assertThat(v[o + q]).isCloseTo((float) Math.cos(2), within(1e-6f));
        assertThat(v[o + 2 * q]).isCloseTo((float) Math.sin(3), within(1e-6f));
        assertThat(v[o + 3 * q + 1]).isCloseTo((float) Math.cos(3 * 0.01), within(1e-6f));
        // the same row shares the first half, the same column the second
        for (int i = 0; i < d / 2; i++) {
            assertThat(v[(2 * w) * d + i]).isEqualTo(v[o + i]);
            assertThat(v[(3) * d + d / 2 + i]).isEqualTo(v[o + d / 2 + i]);
        }
        // the dot product of two positions depends only on their offset (vertical neighbours alike everywhere)
        assertThat(dot(v, d, 0 * w + 1, 1 * w + 1)).isCloseTo(dot(v, d, 1 * w + 4, 2 * w + 4), within(1e-5));
    }

    private static double dot(float[] v, int d, int a, int b) {
        double s = 0;
        for (int i = 0; i < d; i++) {
            s += (double) v[a * d + i] * v[b * d + i];
        }
        return s;
    }

    @Test
    void sincosInitReplacesOnlyThePositionTable() throws Exception {
        TransformerConfig normal = tiny();
        TransformerConfig sincos = tiny("model.pos_emb_hw_init=sincos_2d");
        assertThat(normal.posEmbHwInit()).isEqualTo("normal");
        try (NDManager m = Engines.newManager(); RqTransformer a = RqTransformer.create(normal, m, 7);
                RqTransformer b = RqTransformer.create(sincos, m, 7)) {
            assertThat(b.params().keys()).isEqualTo(a.params().keys());
            for (String k : a.params().keys()) {
                float[] pa = a.params().get(k).toFloatArray();
                float[] pb = b.params().get(k).toFloatArray();
                if (k.equals("pos_emb_hw")) {
                    assertThat(pb).containsExactly(RqTransformer.sincos2d(sincos.height(), sincos.width(),
                            sincos.embedDim()));
                    assertThat(pa).isNotEqualTo(pb);
                    assertThat(maxAbs(pa)).isLessThan(0.2f); // N(0, 0.02)
                } else {
                    assertThat(pb).as(k).containsExactly(pa);
                }
            }
            assertThat(b.params().get("pos_emb_hw").hasGradient()).isTrue(); // still learned
        }
    }

    private static float maxAbs(float[] v) {
        float m = 0;
        for (float x : v) {
            m = Math.max(m, Math.abs(x));
        }
        return m;
    }

    @Test
    void badValuesNameTheKey() {
        assertThatThrownBy(() -> tiny("model.pos_emb_hw_init=sincos"))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.pos_emb_hw_init:");
        assertThatThrownBy(() -> tiny("model.pos_emb_hw_init=sincos_2d", "model.embed_dim=18",
                "model.body.block.n_head=2", "model.head.block.n_head=2"))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.pos_emb_hw_init:")
                .hasMessageContaining("divisible by 4");
    }
}
