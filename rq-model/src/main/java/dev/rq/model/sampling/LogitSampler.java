package dev.rq.model.sampling;

import java.util.Arrays;

/**
 * The official {@code sample_from_logits} (spec §4.8) on host floats, one row at a time:
 * logits / temperature → top-k (keep values ≥ the k-th largest, ties kept) → NaN to −∞ → softmax
 * → top-p (sort descending; drop a token when the cumulative probability of the tokens strictly
 * before it is ≥ p, so the top-1 always stays; renormalise) → one multinomial draw from a
 * uniform {@code u} (inverse CDF in vocabulary order). Arithmetic is float32 as in the official
 * code; the uniform comes from the caller's seeded generator.
 */
public final class LogitSampler {

    private LogitSampler() {}

    /**
     * @param logits row-major [rows, k]
     * @param row the row to sample
     * @param k vocabulary (row width)
     * @param temperature divides the logits
     * @param topK 0 (or ≥ k) for none
     * @param topP nucleus mass (1.0 still applies the rule, as officially)
     * @param u uniform in [0, 1)
     * @return the drawn index
     */
    public static int sample(float[] logits, int row, int k, double temperature, int topK, double topP, double u) {
        float[] p = probabilities(logits, row, k, temperature, topK, topP);
        return draw(p, u);
    }

    /** @return the final (top-k, softmax, top-p, renormalised) distribution of one row */
    public static float[] probabilities(float[] logits, int row, int k, double temperature, int topK, double topP) {
        float[] x = new float[k];
        float t = (float) temperature;
        int off = row * k;
        for (int i = 0; i < k; i++) {
            x[i] = logits[off + i] / t;
        }
        if (topK > 0 && topK < k) {
            float[] work = x.clone();
            for (int i = 0; i < k; i++) {
                if (Float.isNaN(work[i])) {
                    work[i] = Float.NEGATIVE_INFINITY; // torch.topk ranks NaN highest; treat as -inf instead
                }
            }
            float kth = select(work, k - topK); // the k-th largest = element k−topK in ascending order
            for (int i = 0; i < k; i++) {
                if (x[i] < kth) {
                    x[i] = Float.NEGATIVE_INFINITY;
                }
            }
        }
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < k; i++) {
            if (Float.isNaN(x[i])) {
                x[i] = Float.NEGATIVE_INFINITY;
            }
            max = Math.max(max, x[i]);
        }
        if (max == Float.NEGATIVE_INFINITY) {
            throw new IllegalArgumentException("all logits of row " + row + " are -inf or NaN");
        }
        float sum = 0;
        for (int i = 0; i < k; i++) {
            float e = x[i] == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(x[i] - max);
            x[i] = e;
            sum += e;
        }
        int nonzero = 0;
        for (int i = 0; i < k; i++) {
            x[i] /= sum;
            if (x[i] > 0) {
                nonzero++;
            }
        }
        // top-p over the non-zero tokens (zeros cannot change the cumulative sums)
        long[] order = new long[nonzero];
        int j = 0;
        for (int i = 0; i < k; i++) {
            if (x[i] > 0) {
                // descending probability, then ascending index: sort ascending on (−bits, index)
                order[j++] = ((long) (Integer.MAX_VALUE - Float.floatToIntBits(x[i])) << 32) | i;
            }
        }
        Arrays.sort(order);
        float cum = 0; // cumulative probability of the tokens strictly before r (original values)
        float kept = 0;
        for (int r = 0; r < nonzero; r++) {
            int i = (int) order[r];
            float pi = x[i];
            if (r > 0 && cum >= topP) {
                x[i] = 0;
            } else {
                kept += pi;
            }
            cum += pi;
        }
        for (int i = 0; i < k; i++) {
            x[i] /= kept;
        }
        return x;
    }

    /** @return the element of rank {@code r} (0-based, ascending) of {@code a}, reordering it (quickselect) */
    static float select(float[] a, int r) {
        int lo = 0;
        int hi = a.length - 1;
        while (lo < hi) {
            float pivot = a[(lo + hi) >>> 1];
            int i = lo;
            int j = hi;
            while (i <= j) {
                while (a[i] < pivot) {
                    i++;
                }
                while (a[j] > pivot) {
                    j--;
                }
                if (i <= j) {
                    float t = a[i];
                    a[i] = a[j];
                    a[j] = t;
                    i++;
                    j--;
                }
            }
            if (r <= j) {
                hi = j;
            } else if (r >= i) {
                lo = i;
            } else {
                return a[r];
            }
        }
        return a[r];
    }

    /** @return the first index whose cumulative probability exceeds u·total */
    public static int draw(float[] p, double u) {
        double total = 0;
        for (float v : p) {
            total += v;
        }
        double target = u * total;
        double acc = 0;
        int last = -1;
        for (int i = 0; i < p.length; i++) {
            if (p[i] > 0) {
                acc += p[i];
                last = i;
                if (target < acc) {
                    return i;
                }
            }
        }
        return last;
    }
}
