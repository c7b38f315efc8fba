package dev.rq.model.sampling;

import dev.rq.model.engine.Switches;
import java.util.Arrays;

/**
 * The official {@code sample_from_logits} (spec §4.8) on host floats, one row at a time:
 * logits / temperature → top-k (keep values ≥ the k-th largest, ties kept) → NaN to −∞ → softmax
 * → top-p (sort descending; drop a token when the cumulative probability of the tokens strictly
 * before it is ≥ p, so the top-1 always stays; renormalise) → one multinomial draw from a
 * uniform {@code u} (inverse CDF in vocabulary order). Arithmetic is float32 as in the official
 * code; the uniform comes from the caller's seeded generator.
 *
 * <p>After top-k only the surviving tokens (in ascending vocabulary order) are carried through
 * softmax, top-p and the draw; the others have probability 0 and would add exact zeros to every
 * sum, so the result is bitwise that of working on the whole row. An instance keeps its scratch
 * buffers between rows and is not thread-safe.
 */
public final class LogitSampler {

    private final int k;
    private final float[] work; // [k] quickselect scratch
    private final int[] idx; // [k] surviving token ids, ascending
    private final float[] p; // [k] their values: scaled logits, then probabilities
    private final long[] order; // [k] top-p sort keys
    private final int[] hist = new int[1 << RADIX_BITS]; // top-k: counts per leading-bits bucket
    private final float[] bucket; // [k] top-k: the values of one bucket

    /** Leading bits of a value's order key that the top-k selection buckets by. */
    private static final int RADIX_BITS = 11;

    /** @param k vocabulary (row width) */
    public LogitSampler(int k) {
        this.k = k;
        this.work = new float[k];
        this.idx = new int[k];
        this.p = new float[k];
        this.order = new long[k];
        this.bucket = new float[k];
    }

    /**
     * @param logits row-major [rows, k]
     * @param row the row to sample
     * @param temperature divides the logits
     * @param topK 0 (or ≥ k) for none
     * @param topP nucleus mass (1.0 still applies the rule, as officially)
     * @param u uniform in [0, 1)
     * @return the drawn index
     */
    public int sample(float[] logits, int row, double temperature, int topK, double topP, double u) {
        int n = distribution(logits, row, temperature, topK, topP);
        double total = 0;
        for (int j = 0; j < n; j++) {
            total += p[j];
        }
        double target = u * total;
        double acc = 0;
        int last = -1;
        for (int j = 0; j < n; j++) {
            if (p[j] > 0) {
                acc += p[j];
                last = idx[j];
                if (target < acc) {
                    return idx[j];
                }
            }
        }
        return last;
    }

    /** Static form of {@link #sample} (allocates scratch buffers per call). */
    public static int sample(float[] logits, int row, int k, double temperature, int topK, double topP, double u) {
        return new LogitSampler(k).sample(logits, row, temperature, topK, topP, u);
    }

    /** @return the final (top-k, softmax, top-p, renormalised) distribution of one row, [k] */
    public static float[] probabilities(float[] logits, int row, int k, double temperature, int topK, double topP) {
        LogitSampler s = new LogitSampler(k);
        int n = s.distribution(logits, row, temperature, topK, topP);
        float[] out = new float[k];
        for (int j = 0; j < n; j++) {
            out[s.idx[j]] = s.p[j];
        }
        return out;
    }

    /**
     * Fills {@code idx[0..n)} with the tokens that survive top-k (ascending) and {@code p[0..n)}
     * with their final probabilities (zero for tokens top-p dropped or whose exp underflowed).
     *
     * @return n
     */
    private int distribution(float[] logits, int row, double temperature, int topK, double topP) {
        float t = (float) temperature;
        boolean unit = t == 1f; // x / 1 is x exactly (NaN, infinities and signed zeros included): skip the divisions
        int off = row * k;
        float kth = Float.NEGATIVE_INFINITY;
        if (topK > 0 && topK < k) {
            for (int i = 0; i < k; i++) {
                float x = unit ? logits[off + i] : logits[off + i] / t;
                work[i] = Float.isNaN(x) ? Float.NEGATIVE_INFINITY : x; // torch.topk ranks NaN highest; treat as -inf
            }
            kth = Switches.on("rq.sample.radix_topk") ? rank(work, k - topK) // the k-th largest = element k−topK
                    : select(work, k - topK); // in ascending order
        }
        int n = 0;
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < k; i++) {
            float x = unit ? logits[off + i] : logits[off + i] / t;
            if (x >= kth && x != Float.NEGATIVE_INFINITY) { // false for NaN and for tokens below the k-th
                idx[n] = i;
                p[n++] = x;
                max = Math.max(max, x);
            }
        }
        if (n == 0) {
            throw new IllegalArgumentException("all logits of row " + row + " are -inf or NaN");
        }
        float sum = 0;
        for (int j = 0; j < n; j++) {
            float e = (float) Math.exp(p[j] - max);
            p[j] = e;
            sum += e;
        }
        int nonzero = 0;
        for (int j = 0; j < n; j++) {
            p[j] /= sum;
            if (p[j] > 0) {
                // descending probability, then ascending index: sort ascending on (−bits, position)
                order[nonzero++] = ((long) (Integer.MAX_VALUE - Float.floatToIntBits(p[j])) << 32) | j;
            }
        }
        Arrays.sort(order, 0, nonzero);
        float cum = 0; // cumulative probability of the tokens strictly before r (original values)
        float kept = 0;
        for (int r = 0; r < nonzero; r++) {
            int j = (int) order[r];
            float pj = p[j];
            if (r > 0 && cum >= topP) {
                p[j] = 0;
            } else {
                kept += pj;
            }
            cum += pj;
        }
        for (int j = 0; j < n; j++) {
            p[j] /= kept;
        }
        return n;
    }

    /**
     * The element of rank {@code r} (0-based, ascending) of {@code a} (no NaN), as {@link #select}
     * finds it (equal as a float; of −0 and +0 either may come back), in about two passes: values
     * are counted per bucket of the leading {@value #RADIX_BITS} bits of an order-preserving integer
     * key, and only the bucket holding rank r is selected. Quickselect over the whole row took most
     * of the sampler's Java time (bench64: 1,024 logits per row, 4,096 rows per sampling call).
     * {@code -Drq.sample.radix_topk=false} (read at each call) selects over the whole row.
     */
    float rank(float[] a, int r) {
        int[] h = hist;
        java.util.Arrays.fill(h, 0);
        int n = a.length;
        for (int i = 0; i < n; i++) {
            h[orderKey(a[i]) >>> (32 - RADIX_BITS)]++;
        }
        int b = 0;
        int below = 0;
        while (below + h[b] <= r) {
            below += h[b++];
        }
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (orderKey(a[i]) >>> (32 - RADIX_BITS) == b) {
                bucket[m++] = a[i];
            }
        }
        return select(bucket, m, r - below);
    }

    /** @return a key whose unsigned order is the float order (−0 just below +0) */
    private static int orderKey(float x) {
        int u = Float.floatToRawIntBits(x);
        return u ^ ((u >> 31) | 0x80000000);
    }

    /** @return the element of rank {@code r} (0-based, ascending) of {@code a}, reordering it (quickselect) */
    static float select(float[] a, int r) {
        return select(a, a.length, r);
    }

    /** @return the element of rank {@code r} of {@code a[0..n)}, reordering it (quickselect) */
    static float select(float[] a, int n, int r) {
        int lo = 0;
        int hi = n - 1;
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
