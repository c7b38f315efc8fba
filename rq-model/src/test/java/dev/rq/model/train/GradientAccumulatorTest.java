package dev.rq.model.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.distributed.TreeSum;
import dev.rq.model.engine.Engines;
import dev.rq.model.nn.Tensors;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link GradientAccumulator} sums slots as they finish ({@link TreeSum.Incremental}) with the bits of
 * the pre-session-12 evaluation (every slot's left fold kept, then {@link TreeSum#of}), for L = 1..9 slots
 * and M = 1..3 accumulation steps, holding at most ceil(log2 L) + 1 sums of the model's size when M = 1.
 */
class GradientAccumulatorTest {

    private static NDManager m;
    private static final long[][] SHAPES = {{9, 4}, {7}, {2, 3, 5}};

    @BeforeAll
    static void start() {
        Engines.pytorch(1);
        m = Engines.newManager();
    }

    @AfterAll
    static void stop() {
        m.close();
    }

    /** Micro-batch (a, j)'s gradient of parameter k: values over ~6 decades, so the order shows. */
    private static float[] grad(int a, int j, int k, int n) {
        SplittableRandom rnd = new SplittableRandom(1000L * a + 31L * j + k);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) ((rnd.nextDouble() - 0.5) * Math.scalb(1.0, rnd.nextInt(-10, 10)));
        }
        return v;
    }

    @Test
    void slotsSummedAsTheyFinishGiveTheTreeSumBitsInLogarithmicMemory() {
        for (int slots = 1; slots <= 9; slots++) {
            for (int steps = 1; steps <= 3; steps++) {
                try (NDManager s = m.newSubManager()) {
                    Map<String, NDArray> params = new LinkedHashMap<>();
                    for (int k = 0; k < SHAPES.length; k++) {
                        NDArray p = s.zeros(new Shape(SHAPES[k]));
                        p.setRequiresGradient(true);
                        params.put("p" + k, p);
                    }
                    GradientAccumulator acc = new GradientAccumulator(params, slots, steps, 1);
                    for (int a = 0; a < steps; a++) {
                        for (int j = 0; j < slots; j++) {
                            int k = 0;
                            JniUtils.setGradMode(true);
                            for (NDArray p : params.values()) { // .grad = 0 + g = g exactly
                                Shape sh = p.getShape();
                                NDArray g = Tensors.of(s, grad(a, j, k++, (int) sh.size()), sh);
                                NDArray loss = p.mul(g).sum();
                                JniUtils.backward((PtNDArray) loss, (PtNDArray) loss.onesLike(), false, false);
                            }
                            JniUtils.setGradMode(false);
                            acc.collect(j, new float[] {a + j});
                        }
                    }
                    Map<String, NDArray> got = acc.gradients();
                    int k = 0;
                    for (Map.Entry<String, NDArray> e : params.entrySet()) {
                        Shape sh = e.getValue().getShape();
                        float[] want = reference(s, slots, steps, k++, sh);
                        float[] have = got.get(e.getKey()).toFloatArray();
                        for (int i = 0; i < want.length; i++) {
                            assertThat(Float.floatToRawIntBits(have[i])).as("L=%d M=%d %s[%d]", slots, steps,
                                    e.getKey(), i).isEqualTo(Float.floatToRawIntBits(want[i]));
                        }
                    }
                    if (steps == 1 && slots > 1) {
                        int bound = 32 - Integer.numberOfLeadingZeros(slots - 1) + 1; // ceil(log2 L) + 1
                        assertThat(acc.held()).as("sums held, L=%d", slots).isLessThanOrEqualTo(bound);
                        if (slots >= 5) {
                            assertThat(acc.held()).isLessThan(slots);
                        }
                    }
                }
            }
        }
    }

    /** Before session 12: each slot's left fold (new tensors), then the recursive tree over the slots. */
    private static float[] reference(NDManager s, int slots, int steps, int k, Shape sh) {
        List<NDArray> sums = new ArrayList<>();
        for (int j = 0; j < slots; j++) {
            NDArray sum = Tensors.of(s, grad(0, j, k, (int) sh.size()), sh);
            for (int a = 1; a < steps; a++) {
                sum = sum.add(Tensors.of(s, grad(a, j, k, (int) sh.size()), sh));
            }
            sums.add(sum);
        }
        return TreeSum.of(sums).toFloatArray();
    }

    @Test
    void theIncrementalTreeAddsLikeTheRecursiveOneInAnyArrivalOrder() {
        for (int count = 1; count <= 33; count++) {
            List<String> terms = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                terms.add("x" + i);
            }
            String want = shape(terms, 0, count);
            TreeSum.Incremental<String> inOrder = new TreeSum.Incremental<>(count, (a, b) -> "(" + a + "+" + b + ")");
            TreeSum.Incremental<String> reversed = new TreeSum.Incremental<>(count, (a, b) -> "(" + a + "+" + b + ")");
            for (int i = 0; i < count; i++) {
                inOrder.add(i, terms.get(i));
                reversed.add(count - 1 - i, terms.get(count - 1 - i));
            }
            assertThat(inOrder.result()).isEqualTo(want);
            assertThat(reversed.result()).isEqualTo(want);
            assertThat(inOrder.held()).isLessThanOrEqualTo(32 - Integer.numberOfLeadingZeros(Math.max(1, count - 1)) + 1);
        }
    }

    /** TreeSum's documented tree as text. */
    private static String shape(List<String> xs, int lo, int hi) {
        if (hi - lo == 1) {
            return xs.get(lo);
        }
        int mid = (lo + hi) >>> 1;
        return "(" + shape(xs, lo, mid) + "+" + shape(xs, mid, hi) + ")";
    }
}
