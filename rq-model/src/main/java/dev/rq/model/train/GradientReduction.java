package dev.rq.model.train;

import ai.djl.ndarray.NDArray;
import dev.rq.model.distributed.Collective;
import dev.rq.model.kernels.TensorLists;
import dev.rq.model.nn.Tensors;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The data-parallel gradient step shared by the stage-1 and stage-2 trainers: gradients of all
 * parameters (and a few loss statistics riding along) are summed over ranks with one
 * deterministic all-reduce of a flat buffer, in parameter order, and divided by the number of
 * micro-batches G, so every rank gets bit-identical global gradients.
 */
public final class GradientReduction {

    private GradientReduction() {}

    /**
     * Reduces this rank's summed gradients to the global mean.
     *
     * @param local this rank's gradient sums by key (over its micro-batches)
     * @param stats this rank's statistics summed over its micro-batches; replaced by the global means
     * @param microBatches micro-batches per optimizer step over all ranks G (the divisor)
     * @return global mean gradients by key (new arrays, the caller's scope owns them; on one rank with
     *     G = 1 the arrays of {@code local} themselves)
     */
    public static Map<String, NDArray> reduce(Map<String, NDArray> local, float[] stats, int microBatches,
            Collective collective) {
        return reduce(local, stats, microBatches, collective, null);
    }

    /**
     * {@link #reduce(Map, float[], int, Collective)}, also timing the host copies (gradients into the
     * flat buffer and back into tensors) around the all-reduce.
     *
     * @param copyNanos if not null, {@code copyNanos[0]} is increased by the nanoseconds spent copying
     */
    public static Map<String, NDArray> reduce(Map<String, NDArray> local, float[] stats, int microBatches,
            Collective collective, long[] copyNanos) {
        float scale = 1f / microBatches;
        Map<String, NDArray> grads = new LinkedHashMap<>();
        if (collective.worldSize() == 1) {
            for (Map.Entry<String, NDArray> e : local.entrySet()) {
                // G = 1: x·1 = x exactly, so the sums themselves (no copy of every gradient)
                grads.put(e.getKey(), microBatches == 1 ? e.getValue() : e.getValue().mul(scale));
            }
            for (int i = 0; i < stats.length; i++) {
                stats[i] *= scale;
            }
            return grads;
        }
        long t0 = System.nanoTime();
        long total = stats.length;
        for (NDArray g : local.values()) {
            total += g.size();
        }
        float[] flat = new float[Math.toIntExact(total)];
        int off = 0;
        for (NDArray g : local.values()) {
            float[] v = g.toFloatArray();
            System.arraycopy(v, 0, flat, off, v.length);
            off += v.length;
        }
        System.arraycopy(stats, 0, flat, off, stats.length);
        long a = System.nanoTime();
        collective.allReduceSum(flat);
        long b = System.nanoTime();
        off = 0;
        for (Map.Entry<String, NDArray> e : local.entrySet()) {
            int n = Math.toIntExact(e.getValue().size());
            float[] g = new float[n];
            System.arraycopy(flat, off, g, 0, n);
            off += n;
            // the same libtorch multiply as the one-rank path, so N = 1 and N = 2 agree to the bit
            grads.put(e.getKey(), Tensors.of(e.getValue().getManager(), g, e.getValue().getShape()).mul(scale));
        }
        for (int i = 0; i < stats.length; i++) {
            stats[i] = flat[off + i] * scale;
        }
        if (copyNanos != null) {
            copyNanos[0] += (a - t0) + (System.nanoTime() - b);
        }
        return grads;
    }

    /** @return the global L2 norm of all gradients */
    public static double globalNorm(Map<String, NDArray> grads) {
        double sq = 0;
        if (Adam.LISTS) { // the same float32 sums, one native call
            for (float s : TensorLists.squaredSums(new ArrayList<>(grads.values()))) {
                sq += s;
            }
            return Math.sqrt(sq);
        }
        for (NDArray g : grads.values()) {
            sq += g.square().sum().getFloat();
        }
        return Math.sqrt(sq);
    }

    /**
     * Scales gradients in place so their global norm is at most {@code maxNorm}, exactly as {@code
     * torch.nn.utils.clip_grad_norm_} (coefficient {@code maxNorm / (norm + 1e-6)}, only if below 1).
     */
    public static void clip(Map<String, NDArray> grads, double norm, double maxNorm) {
        if (maxNorm > 0) {
            double coef = maxNorm / (norm + 1e-6);
            if (coef < 1) {
                grads.values().forEach(g -> g.muli((float) coef));
            }
        }
    }
}
