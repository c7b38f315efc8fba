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
 * micro-batches over the M accumulation steps in order (a left fold, as autograd accumulates into
 * {@code .grad}, here in place in one tensor per parameter); the slots are then added in a {@link
 * TreeSum} tree. With one slot the gradients simply accumulate in the parameters' {@code .grad} (no
 * copies). Since the ranks' slots are contiguous equal shares of the accumulation step's
 * micro-batches, N = 1 with 2L slots and N = 2 with L slots each, summed over ranks afterwards,
 * perform the same additions.
 *
 * <p>Memory: a slot's sum enters the tree as soon as its last micro-batch (that of accumulation step
 * M) is collected, and the tree is evaluated as the slots finish ({@link TreeSum.Incremental}: the
 * same additions, so the same bits), each addition in place into its left operand, the right one freed.
 * With M = 1 a rank therefore holds at most about log2(L) + 1 gradient sums of the model's size at once;
 * with M &gt; 1 the L running sums of the earlier accumulation steps are unavoidable in this order
 * (until session 12: the L slot sums, the L − 1 tree nodes and a new tensor per micro-batch, all until
 * the step ended).
 */
public final class GradientAccumulator {

    private final Map<String, NDArray> params;
    private final int steps;
    private final int[] collected;
    private final List<Map<String, NDArray>> running = new ArrayList<>();
    private final TreeSum.Incremental<Map<String, NDArray>> tree;
    private final List<float[]> stats = new ArrayList<>();
    private int held;

    /**
     * @param params trainable parameters by key
     * @param slots micro-batches of this rank per accumulation step L
     * @param accumulationSteps accumulation steps per optimizer step M: every slot is collected M times
     * @param statCount loss statistics per micro-batch
     */
    public GradientAccumulator(Map<String, NDArray> params, int slots, int accumulationSteps, int statCount) {
        this.params = params;
        this.steps = accumulationSteps;
        this.collected = new int[slots];
        for (int j = 0; j < slots; j++) {
            this.running.add(null);
            this.stats.add(new float[statCount]);
        }
        this.tree = slots > 1 ? new TreeSum.Incremental<>(slots, GradientAccumulator::addInPlace) : null;
    }

    /** left + right per key, into left's arrays; right's are freed */
    private static Map<String, NDArray> addInPlace(Map<String, NDArray> left, Map<String, NDArray> right) {
        for (Map.Entry<String, NDArray> e : left.entrySet()) {
            NDArray r = right.get(e.getKey());
            e.getValue().addi(r);
            r.close();
        }
        return left;
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
        if (++collected[slot] > steps) {
            throw new IllegalStateException("slot " + slot + " collected more than " + steps + " times");
        }
        if (tree == null) {
            return;
        }
        Map<String, NDArray> sum = running.get(slot);
        if (sum == null) {
            sum = new LinkedHashMap<>();
        }
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            NDArray g = e.getValue().getGradient();
            NDArray s = sum.get(e.getKey());
            if (s == null) {
                sum.put(e.getKey(), g.duplicate());
            } else {
                s.addi(g); // the same float addition as s.add(g), without a new tensor per micro-batch
            }
            JniUtils.zeroGrad((PtNDArray) e.getValue());
        }
        if (collected[slot] == steps) {
            running.set(slot, null);
            tree.add(slot, sum);
        } else {
            running.set(slot, sum);
        }
        held = Math.max(held, tree.holding() + (int) running.stream().filter(r -> r != null).count());
    }

    /** @return this rank's gradient sum by key (arrays owned by the caller's scope) */
    public Map<String, NDArray> gradients() {
        Map<String, NDArray> out = new LinkedHashMap<>();
        if (tree == null) {
            for (Map.Entry<String, NDArray> e : params.entrySet()) {
                out.put(e.getKey(), e.getValue().getGradient());
            }
            return out;
        }
        Map<String, NDArray> sum = tree.result();
        for (String k : params.keySet()) {
            out.put(k, sum.get(k));
        }
        return out;
    }

    /** @return the most slot sums and tree nodes of the model's size held at once (0 with one slot) */
    int held() {
        return held;
    }

    /** @return this rank's statistics sum (a new array) */
    public float[] stats() {
        return TreeSum.ofFloats(stats);
    }
}
