package dev.rq.model.sid;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.SidModelConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.nn.Tensors;
import dev.rq.model.quantizer.KMeans;
import dev.rq.model.util.Rng;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import static org.assertj.core.api.Assertions.within;

class SidModelTest {

    static SidModelConfig config(String update) {
        return new SidModelConfig(null, 24, List.of(16, 12), 8, null, 3, List.of(16), null, update, null, null, null);
    }

    @BeforeAll
    static void engine() {
        Engines.pytorch(1);
    }

    @ParameterizedTest
    @ValueSource(strings = {"gradient", "ema"})
    void shapesKeysAndStateDictRoundTrip(String update) {
        SidModelConfig c = config(update);
        try (NDManager m = Engines.newManager(); SidModel model = SidModel.create(c, m, 1)) {
            assertThat(model.params().keys()).startsWith("encoder.0.weight", "encoder.0.bias", "encoder.2.weight")
                    .contains("quantizer.codebooks.2.weight", "quantizer.codebooks.2.cluster_size_ema",
                            "decoder.4.weight", "decoder.4.bias");
            assertThat(model.params().get("encoder.0.weight").getShape()).isEqualTo(new Shape(16, 24));
            assertThat(model.params().get("decoder.4.weight").getShape()).isEqualTo(new Shape(24, 16));
            NDArray x = Tensors.of(m, new SyntheticItems(1, 24, 10, 2, 0.2).embeddings(0, 32), new Shape(32, 24));
            SidModel.Forward f = model.forward(x, false, Collective.local(), null);
            assertThat(f.z().getShape()).isEqualTo(new Shape(32, 8));
            assertThat(f.recon().getShape()).isEqualTo(new Shape(32, 24));
            assertThat(f.quantized().codes().getShape()).isEqualTo(new Shape(32, 3));
            NDArray codes = model.codes(x);
            assertThat(codes.toLongArray()).containsExactly(f.quantized().codes().toLongArray());
            // the straight-through z + (z_q − z) rounds like z_q up to an ulp
            assertThat(model.reconstruct(codes).toFloatArray())
                    .containsExactly(f.recon().toFloatArray(), org.assertj.core.api.Assertions.within(1e-6f));
            assertThat(model.codebook(1)).hasSize(16 * 8);

            Map<String, HostTensor> state = model.stateDict();
            try (SidModel back = SidModel.fromStateDict(c, state, m)) {
                for (String k : model.params().keys()) {
                    assertThat(back.params().get(k).toFloatArray()).as(k)
                            .containsExactly(model.params().get(k).toFloatArray());
                }
                assertThat(back.codes(x).toLongArray()).containsExactly(codes.toLongArray());
            }
        }
    }

    /**
     * k-means initialisation: level 0's codebook is the k-means fit of the latents, and the codes
     * of the initialised model reduce the residual at every level.
     */
    @ParameterizedTest
    @ValueSource(strings = {"gradient", "ema"})
    void kmeansInitialisationFitsEveryLevel(String update) {
        SidModelConfig c = config(update);
        try (NDManager m = Engines.newManager(); SidModel model = SidModel.create(c, m, 3)) {
            NDArray x = Tensors.of(m, new SyntheticItems(2, 24, 30, 5, 0.3).embeddings(0, 400), new Shape(400, 24));
            List<KMeans.Iteration> fits = SidInit.kmeans(model, x, 64, 5, Rng.of(4), Collective.local());
            assertThat(fits).hasSize(3);
            float[] usage = model.params().get("quantizer.codebooks.1.cluster_size_ema").toFloatArray();
            double total = 0;
            for (float u : usage) {
                total += u;
            }
            assertThat(total).as("initial usage: one training call's items").isCloseTo(64, within(1e-3));
            NDArray z = model.encode(x);
            KMeans.Iteration direct = KMeans.fit(z, 16, 5, Rng.of(4), Collective.local());
            assertThat(model.codebook(0)).containsExactly(direct.centroids());
            // residual norm decreases level by level
            NDArray codes = model.codes(x);
            NDArray r = z;
            double prev = r.square().sum().getFloat();
            for (int d = 0; d < 3; d++) {
                r = r.sub(model.levels().embed(d, codes.get(":, " + d)));
                double now = r.square().sum().getFloat();
                assertThat(now).as("residual energy after level %d", d).isLessThan(prev);
                prev = now;
            }
        }
    }

    /** The levels searched 1,024 rows at a time give the whole batch's codes bit for bit (2 full chunks and a partial one). */
    @ParameterizedTest
    @ValueSource(strings = {"gradient", "ema"})
    void codesByRowChunksEqualTheWholeBatchs(String update) {
        SidModelConfig c = config(update);
        try (NDManager m = Engines.newManager(); SidModel model = SidModel.create(c, m, 6)) {
            NDArray x = Tensors.of(m, new SyntheticItems(3, 24, 30, 5, 0.3).embeddings(0, 3000), new Shape(3000, 24));
            SidInit.kmeans(model, x.get("0:500"), 64, 5, Rng.of(2), Collective.local());
            long[] whole = model.levels().codes(model.encode(x)).toLongArray();
            long[] chunked = model.codes(x).toLongArray(); // Levels.codesByRows, CODE_ROWS = 1024
            assertThat(chunked).containsExactly(whole);
            assertThat(java.util.Arrays.stream(whole).distinct().count()).as("codes in use").isGreaterThan(8);
            if (dev.rq.model.engine.Precision.cpuHasBf16()) { // bf16 searches with one addmm per level
                model.setPrecision(dev.rq.model.engine.Precision.BF16);
                assertThat(model.codes(x).toLongArray()).containsExactly(model.levels().codes(model.encode(x))
                        .toLongArray());
            }
        }
    }

    /** Gradient codebooks: dead codes (usage below 1) are re-seeded from the batch in training. */
    @Test
    void gradientCodebookRestartsDeadCodes() {
        SidModelConfig c = config("gradient");
        try (NDManager m = Engines.newManager(); SidModel model = SidModel.create(c, m, 5)) {
            NDArray x = Tensors.of(m, new SyntheticItems(2, 24, 30, 5, 0.3).embeddings(0, 64), new Shape(64, 24));
            float[] before = model.codebook(0);
            model.forward(x, true, Collective.local(), Rng.of(9)); // usage starts at 0: every code is dead
            assertThat(model.deadFraction()).isEqualTo(1.0);
            float[] after = model.codebook(0);
            float[] z = model.encode(x).toFloatArray();
            // every restarted code is one of the batch's latents
            for (int k = 0; k < 16; k++) {
                boolean found = false;
                for (int i = 0; i < 64 && !found; i++) {
                    boolean eq = true;
                    for (int j = 0; j < 8; j++) {
                        eq &= after[k * 8 + j] == z[i * 8 + j];
                    }
                    found = eq;
                }
                assertThat(found).as("code %d is a batch latent", k).isTrue();
            }
            assertThat(after).isNotEqualTo(before);
            float[] usage = model.params().get("quantizer.codebooks.0.cluster_size_ema").toFloatArray();
            double sum = 0;
            for (float u : usage) {
                sum += u;
            }
            // restarted at 1 each, then one update with the 64 assignments: 0.99·16 + 0.01·64
            assertThat(sum).isCloseTo(0.99 * 16 + 0.01 * 64, org.assertj.core.api.Assertions.within(1e-3));
        }
    }

    @Test
    void rejectsBadConfigsNamingTheKey() {
        assertThatThrownBy(() -> new SidModelConfig(null, 24, List.of(16), 8, "gelu", 3, List.of(16), null, null, null,
                null, null)).isInstanceOf(ConfigException.class).hasMessageStartingWith("model.activation:");
        assertThatThrownBy(() -> new SidModelConfig(null, 24, List.of(16), 8, null, 3, List.of(16, 16), null, null,
                null, null, null)).isInstanceOf(ConfigException.class).hasMessageStartingWith("model.codebook_size:");
        assertThatThrownBy(() -> new SidModelConfig("kmeans", 24, null, null, null, null, null, null, null, null, null,
                null)).isInstanceOf(ConfigException.class).hasMessageStartingWith("model.method:");
        assertThatThrownBy(() -> new SidModelConfig(null, null, null, null, null, null, null, null, null, null, null,
                null)).isInstanceOf(ConfigException.class).hasMessageStartingWith("model.input_dim:");
    }

    @Test
    void bf16EncodesNearFloat32AndBackExactly() {
        if (!dev.rq.model.engine.Precision.cpuHasBf16()) {
            System.out.println("SidModelTest: this CPU has no bfloat16 units: the bf16 encoder is not checked");
            return;
        }
        SidModelConfig c = config("gradient");
        try (NDManager m = Engines.newManager(); SidModel model = SidModel.create(c, m, 1)) {
            NDArray x = Tensors.of(m, new SyntheticItems(1, 24, 10, 2, 0.2).embeddings(0, 64), new Shape(64, 24));
            float[] z32 = model.encode(x).toFloatArray();
            model.setPrecision(dev.rq.model.engine.Precision.BF16);
            NDArray z = model.encode(x);
            assertThat(z.getDataType()).isEqualTo(ai.djl.ndarray.types.DataType.FLOAT32);
            float[] z16 = z.toFloatArray();
            double num = 0;
            double den = 0;
            for (int i = 0; i < z32.length; i++) {
                num += (z16[i] - z32[i]) * (double) (z16[i] - z32[i]);
                den += z32[i] * (double) z32[i];
            }
            // bfloat16 keeps 8 mantissa bits: the latents differ (so bf16 ran), by about its rounding
            assertThat(Math.sqrt(num / den)).isBetween(1e-5, 2e-2);
            assertThat(model.codes(x).getShape()).isEqualTo(new Shape(64, 3));
            try (var frozen = model.params().freeze()) { // weights cast once, the same numbers
                assertThat(model.encode(x).toFloatArray()).containsExactly(z16);
            }
            model.setPrecision(dev.rq.model.engine.Precision.FP32);
            assertThat(model.encode(x).toFloatArray()).containsExactly(z32);
        }
    }

    @Test
    void rqKMeansCodesAndReconstruction() {
        SidModelConfig c = new SidModelConfig("rq-kmeans", 4, null, null, null, 2, List.of(2), null, null, null, null,
                null);
        float[][] cb = {{0, 0, 0, 0, 10, 10, 10, 10}, {1, 0, 0, 0, -1, 0, 0, 0}};
        try (NDManager m = Engines.newManager(); RqKMeans q = RqKMeans.of(c, m, cb)) {
            NDArray x = Tensors.of(m, new float[] {9, 10, 10, 10, 1.2f, 0, 0, 0}, new Shape(2, 4));
            assertThat(q.codes(x).toLongArray()).containsExactly(1, 1, 0, 0);
            assertThat(q.reconstruct(q.codes(x)).toFloatArray()).containsExactly(9, 10, 10, 10, 1, 0, 0, 0);
            try (RqKMeans back = RqKMeans.fromStateDict(c, q.stateDict(), m)) {
                assertThat(back.codebook(1)).containsExactly(cb[1]);
            }
        }
    }
}
