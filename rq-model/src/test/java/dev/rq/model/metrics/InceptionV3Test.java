package dev.rq.model.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.engine.Engines;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.util.Rng;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The FID network with random weights (the official parity, at 299×299, is in OfficialParityTest):
 * torchvision key names load the same network, features are finite and of order one, and an
 * image's features do not depend on the other images of its batch. These checks do not depend on
 * the resize side, so they run at the smallest one the network takes (75×75, about 1/16 of the
 * cost of 299×299: the default suite runs on 2 loaded cores).
 */
class InceptionV3Test {

    static final int S = InceptionV3.MIN_SIZE;

    static Map<String, HostTensor> weights;

    @BeforeAll
    static void weights() {
        weights = InceptionV3.randomStateDict(7);
    }

    static float[] images(int n, int h, int w, long seed) {
        Rng rng = new Rng(seed);
        float[] x = new float[n * 3 * h * w];
        for (int i = 0; i < x.length; i++) {
            x[i] = rng.nextFloat();
        }
        return x;
    }

    @Test
    void featuresAreBatchIndependentAndFinite() {
        Engines.pytorch(2);
        try (NDManager m = Engines.newManager(); InceptionV3 net = InceptionV3.fromStateDict(weights, m, S)) {
            float[] x = images(2, 40, 52, 1);
            float[] both = net.features(m.create(x, new Shape(2, 3, 40, 52))).toFloatArray();
            float[] second = net.features(m.create(java.util.Arrays.copyOfRange(x, x.length / 2, x.length),
                    new Shape(1, 3, 40, 52))).toFloatArray();
            assertThat(both).hasSize(2 * InceptionV3.FEATURES);
            double mean = 0;
            for (int i = 0; i < InceptionV3.FEATURES; i++) {
                float a = both[InceptionV3.FEATURES + i];
                assertThat(Float.isFinite(a)).isTrue();
                assertThat(Math.abs(a - second[i])).isLessThanOrEqualTo(1e-4f * (1 + Math.abs(a)));
                mean += a / InceptionV3.FEATURES;
            }
            assertThat(mean).as("random-weight features keep their scale").isBetween(1e-2, 1e2);
            NDArray logits = net.logits(m.create(both, new Shape(2, InceptionV3.FEATURES)));
            assertThat(logits.getShape()).isEqualTo(new Shape(2, InceptionV3.CLASSES));
        }
    }

    @Test
    void torchvisionKeyNamesLoadTheSameNetwork() {
        String[][] names = {{"blocks.0.0", "Conv2d_1a_3x3"}, {"blocks.0.1", "Conv2d_2a_3x3"},
            {"blocks.0.2", "Conv2d_2b_3x3"}, {"blocks.1.0", "Conv2d_3b_1x1"}, {"blocks.1.1", "Conv2d_4a_3x3"},
            {"blocks.2.0", "Mixed_5b"}, {"blocks.2.1", "Mixed_5c"}, {"blocks.2.2", "Mixed_5d"},
            {"blocks.2.3", "Mixed_6a"}, {"blocks.2.4", "Mixed_6b"}, {"blocks.2.5", "Mixed_6c"},
            {"blocks.2.6", "Mixed_6d"}, {"blocks.2.7", "Mixed_6e"}, {"blocks.3.0", "Mixed_7a"},
            {"blocks.3.1", "Mixed_7b"}, {"blocks.3.2", "Mixed_7c"}};
        Map<String, HostTensor> tv = new LinkedHashMap<>();
        weights.forEach((k, v) -> {
            String key = k;
            for (String[] n : names) {
                if (k.startsWith(n[0] + ".")) {
                    key = n[1] + k.substring(n[0].length());
                }
            }
            tv.put(key, v);
        });
        tv.put("Mixed_5b.branch1x1.bn.num_batches_tracked", HostTensor.ofLongs(new long[] {0}));
        Engines.pytorch(2);
        float[] x = images(1, S, S, 2);
        try (NDManager m = Engines.newManager(); InceptionV3 a = InceptionV3.fromStateDict(weights, m, S);
                InceptionV3 b = InceptionV3.fromStateDict(tv, m, S)) {
            NDArray in = m.create(x, new Shape(1, 3, S, S));
            assertThat(b.features(in).toFloatArray()).containsExactly(a.features(in).toFloatArray());
        }
    }

    @Test
    void blockSidesFollowTheResizeSide() {
        assertThat(InceptionV3.blockSides(InceptionV3.SIZE)).containsExactly(35, 17, 8);
        assertThat(InceptionV3.blockSides(S)).containsExactly(7, 3, 1);
        Engines.pytorch(2);
        try (NDManager m = Engines.newManager()) {
            assertThatThrownBy(() -> InceptionV3.fromStateDict(weights, m, S - 1)).hasMessageContaining("at least 75");
        }
    }

    @Test
    void incompleteOrForeignStateDictsAreRejected() {
        Map<String, HostTensor> missing = new LinkedHashMap<>(weights);
        missing.remove("fc.bias");
        Engines.pytorch(2);
        try (NDManager m = Engines.newManager()) {
            assertThatThrownBy(() -> InceptionV3.fromStateDict(missing, m)).hasMessageContaining("missing [fc.bias]");
            Map<String, HostTensor> extra = new LinkedHashMap<>(weights);
            extra.put("encoder.conv_in.weight", HostTensor.ofFloats(new float[1], 1));
            assertThatThrownBy(() -> InceptionV3.fromStateDict(extra, m))
                    .hasMessageContaining("unexpected tensors [encoder.conv_in.weight]");
        }
    }
}
