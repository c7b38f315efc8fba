package dev.rq.model.train;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.distributed.TreeSum;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Sums this rank's micro-batch gradients (and loss statistics) of one optimizer step in an order
 * that does not depend on the number of ranks.
 *
 * <p>A rank holds L micro-batch positions ("slots") of every accumulation step. Slot j adds its
 * micro-batches over the accumulation steps in order (a left fold, as autograd accumulates into
 * {@code .grad}); the slots are then added in a {@link TreeSum} tree. With one slot the gradients
 * simply accumulate in the parameters' {@code .grad} (no copies). Since the ranks' slots are
 * contiguous equal shares of the accumulation step's micro-batches, N = 1 with 2L slots and N = 2
 * with L slots each, summed over ranks afterwards, perform the same additions.
 */
public final class GradientAccumulator {

    private final Map<String, NDArray> params;
    private final List<Map<String, NDArray>> slots = new ArrayList<>();
    private final List<float[]> stats = new ArrayList<>();

    /**
     * @param params trainable parameters by key
     * @param slots micro-batches of this rank per accumulation step L
     * @param statCount loss statistics per micro-batch
     */
    public GradientAccumulator(Map<String, NDArray> params, int slots, int statCount) {
        this.params = params;
        for (int j = 0; j < slots; j++) {
            this.slots.add(null);
            this.stats.add(new float[statCount]);
        }
    }

    /**
     * Takes the gradients that the backward pass of the micro-batch in {@code slot} left in the
     * parameters' {@code .grad} (zeroing them unless there is a single slot) and its statistics.
     */
    public void collect(int slot, float[] values) {
        float[] acc = stats.get(slot);
        for (int i = 0; i < acc.length; i++) {
            acc[i] += values[i];
        }
        if (slots.size() == 1) {
            return;
        }
        Map<String, NDArray> sum = slots.get(slot);
        Map<String, NDArray> next = new LinkedHashMap<>();
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            NDArray g = e.getValue().getGradient();
            next.put(e.getKey(), sum == null ? g.duplicate() : sum.get(e.getKey()).add(g));
            JniUtils.zeroGrad((PtNDArray) e.getValue());
        }
        slots.set(slot, next);
    }

    /** @return this rank's gradient sum by key (arrays owned by the caller's scope) */
    public Map<String, NDArray> gradients() {
        Map<String, NDArray> out = new LinkedHashMap<>();
        for (String k : params.keySet()) {
            if (slots.size() == 1) {
                out.put(k, params.get(k).getGradient());
            } else {
                List<NDArray> parts = new ArrayList<>(slots.size());
                for (Map<String, NDArray> s : slots) {
                    parts.add(s.get(k));
                }
                out.put(k, TreeSum.of(parts));
            }
        }
        return out;
    }

    /** @return this rank's statistics sum (a new array) */
    public float[] stats() {
        return TreeSum.ofFloats(stats);
    }
}
