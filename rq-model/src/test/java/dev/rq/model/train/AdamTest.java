package dev.rq.model.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.engine.Engines;
import dev.rq.model.kernels.TensorLists;
import dev.rq.model.nn.Tensors;
import dev.rq.model.safetensors.TensorData;
import dev.rq.model.util.Rng;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Adam update as one libtorch loop over all tensors ({@link TensorLists#adam}) against the
 * per-tensor DJL code, bit for bit, over several steps with changing learning rates and
 * gradients, for AdamW, Adam with an L2 term and no decay; and the list sum of squares against
 * {@code square().sum()}.
 */
class AdamTest {

    private static NDManager m;

    @BeforeAll
    static void start() {
        Engines.pytorch(1);
        m = Engines.newManager();
        JniUtils.setGradMode(false);
    }

    @AfterAll
    static void stop() {
        m.close();
    }

    private static final long[][] SHAPES = {{7, 5}, {5}, {3, 4, 2}, {1}};

    private static Map<String, NDArray> tensors(Rng r, double scale) {
        Map<String, NDArray> out = new LinkedHashMap<>();
        for (int i = 0; i < SHAPES.length; i++) {
            Shape s = new Shape(SHAPES[i]);
            float[] v = new float[Math.toIntExact(s.size())];
            for (int j = 0; j < v.length; j++) {
                v[j] = (float) (scale * r.nextGaussian());
            }
            out.put("w" + i, Tensors.of(m, v, s));
        }
        return out;
    }

    private static Map<String, NDArray> copy(Map<String, NDArray> t) {
        Map<String, NDArray> out = new LinkedHashMap<>();
        t.forEach((k, v) -> out.put(k, v.duplicate()));
        return out;
    }

    private static void assertBitIdentical(Map<String, NDArray> a, Map<String, NDArray> b) {
        for (String k : a.keySet()) {
            assertThat(a.get(k).toFloatArray()).as(k).containsExactly(b.get(k).toFloatArray());
        }
    }

    private static void compare(double weightDecay, boolean decoupled) {
        Map<String, NDArray> p1 = tensors(new Rng(1), 1);
        Map<String, NDArray> p2 = copy(p1);
        Adam loop = new Adam(p1, m, 0.9, 0.95, 1e-8, weightDecay, decoupled);
        Adam perTensor = new Adam(p2, m, 0.9, 0.95, 1e-8, weightDecay, decoupled);
        Rng r = new Rng(2);
        for (int step = 1; step <= 5; step++) {
            Map<String, NDArray> g = tensors(r, 0.1 * step);
            double lr = 5e-4 * step / 3;
            loop.update(p1, g, lr, true);
            perTensor.update(p2, g, lr, false);
        }
        assertBitIdentical(p1, p2);
        Map<String, TensorData> s1 = loop.state();
        Map<String, TensorData> s2 = perTensor.state();
        assertThat(s1.keySet()).containsExactlyElementsOf(s2.keySet());
        // the parameters moved: the comparison is not of two no-ops
        Map<String, NDArray> start = tensors(new Rng(1), 1);
        assertThat(p1.get("w0").toFloatArray()).isNotEqualTo(start.get("w0").toFloatArray());
    }

    @Test
    void adamWAsOneLoopIsBitIdenticalToThePerTensorCode() {
        compare(1e-4, true);
    }

    @Test
    void adamWithL2AsOneLoopIsBitIdenticalToThePerTensorCode() {
        compare(1e-2, false);
    }

    @Test
    void adamWithoutDecayAsOneLoopIsBitIdenticalToThePerTensorCode() {
        compare(0, true);
    }

    @Test
    void listSquaredSumsEqualTheDjlSums() {
        List<NDArray> xs = new ArrayList<>(tensors(new Rng(3), 2).values());
        float[] sums = TensorLists.squaredSums(xs);
        assertThat(sums).hasSize(xs.size());
        for (int i = 0; i < sums.length; i++) {
            assertThat(sums[i]).isEqualTo(xs.get(i).square().sum().getFloat());
        }
    }
}
