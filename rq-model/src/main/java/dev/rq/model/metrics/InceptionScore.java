package dev.rq.model.metrics;

import java.util.List;

/**
 * The Inception Score of Salimans et al. (2016) as the official {@code rqvae/metrics/IS.py}
 * (PyTorch-StudioGAN's {@code calculate_kl_div}) computes it: class probabilities {@code p =
 * softmax(logits)} of the FID network's 1008-way {@code fc} ({@link InceptionV3#logits}); the
 * images are cut into {@code splits} consecutive parts {@code [j·N/S, (j+1)·N/S)} (integer
 * division); per part {@code exp(mean_i KL(p_i ‖ p̄))} with {@code p̄} the part's mean
 * probability; the score is the mean over parts and the spread their standard deviation (N − 1
 * divisor, {@code torch.std}).
 *
 * <p>Differences: the official loader shuffles the images before cutting the parts
 * ({@code shuffle=True}); here the parts follow the input order, so the result is reproducible.
 * Probabilities are computed in float64 and {@code 0·log 0 = 0} (float32 softmax underflow gives
 * NaN in the official code).
 *
 * <p>The per-image work is summarised in {@link Part}s, so a distributed job only ships sums:
 * {@code mean_i KL(p_i ‖ p̄) = mean_i Σ_k p_ik log p_ik − Σ_k p̄_k log p̄_k}.
 */
public final class InceptionScore {

    /** The official number of parts. */
    public static final int DEFAULT_SPLITS = 10;

    private InceptionScore() {}

    /**
     * Score and spread.
     *
     * @param mean mean over the parts of {@code exp(mean KL)}
     * @param std standard deviation over the parts (NaN for one part)
     * @param parts the number of parts
     */
    public record Result(double mean, double std, int parts) {}

    /**
     * Running sums over the images of one part: the image count, {@code Σ_i p_i} per class and
     * {@code Σ_i Σ_k p_ik log p_ik}. Images are added in order with {@link #add}.
     */
    public static final class Part {
        private long count;
        private final double[] probSum;
        private double negEntropySum;

        /** An empty part over {@code classes} classes. */
        public Part(int classes) {
            this(0, new double[classes], 0);
        }

        /** A part from its sums (e.g. shipped from an executor). */
        public Part(long count, double[] probSum, double negEntropySum) {
            this.count = count;
            this.probSum = probSum;
            this.negEntropySum = negEntropySum;
        }

        /** Adds one image, given by its logits. */
        public void add(float[] logits) {
            double[] p = softmax(logits);
            if (p.length != probSum.length) {
                throw new IllegalArgumentException(p.length + " logits for a part over " + probSum.length
                        + " classes");
            }
            double h = 0;
            for (int k = 0; k < p.length; k++) {
                probSum[k] += p[k];
                if (p[k] > 0) {
                    h += p[k] * Math.log(p[k]);
                }
            }
            count++;
            negEntropySum += h;
        }

        /** @return images added */
        public long count() {
            return count;
        }

        /** @return {@code Σ_i p_i} (the live array) */
        public double[] probSum() {
            return probSum;
        }

        /** @return {@code Σ_i Σ_k p_ik log p_ik} */
        public double negEntropySum() {
            return negEntropySum;
        }

        /** @return {@code exp(mean_i KL(p_i ‖ p̄))} of this part */
        public double score() {
            if (count == 0) {
                throw new IllegalStateException("empty Inception Score part");
            }
            double cross = 0;
            for (double s : probSum) {
                double pbar = s / count;
                if (pbar > 0) {
                    cross += pbar * Math.log(pbar);
                }
            }
            return Math.exp(negEntropySum / count - cross);
        }
    }

    /** @return the part (0-based) that image {@code i} of {@code n} falls into with {@code splits} parts */
    public static int partOf(long i, long n, int splits) {
        // parts are [j·n/S, (j+1)·n/S): the largest j with j·n/S ≤ i
        int j = (int) Math.min(splits - 1, (i * splits) / n);
        while (j > 0 && (j * n) / splits > i) {
            j--;
        }
        while (j + 1 < splits && ((j + 1) * n) / splits <= i) {
            j++;
        }
        return j;
    }

    /** @return the score of the parts (in part order) */
    public static Result of(List<Part> parts) {
        int s = parts.size();
        double[] scores = new double[s];
        double sum = 0;
        for (int j = 0; j < s; j++) {
            scores[j] = parts.get(j).score();
            sum += scores[j];
        }
        double mean = sum / s;
        double var = 0;
        for (double v : scores) {
            var += (v - mean) * (v - mean);
        }
        return new Result(mean, s > 1 ? Math.sqrt(var / (s - 1)) : Double.NaN, s);
    }

    /**
     * The score of all images in order.
     *
     * @param logits one row of 1008 logits per image
     * @param splits parts (≤ number of images)
     */
    public static Result of(float[][] logits, int splits) {
        int n = logits.length;
        if (splits < 1 || splits > n) {
            throw new IllegalArgumentException("Inception Score of " + n + " images in " + splits + " parts");
        }
        Part[] parts = new Part[splits];
        for (int i = 0; i < n; i++) {
            int j = partOf(i, n, splits);
            if (parts[j] == null) {
                parts[j] = new Part(logits[i].length);
            }
            parts[j].add(logits[i]);
        }
        return of(List.of(parts));
    }

    /** @return softmax in float64 */
    static double[] softmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double[] p = new double[logits.length];
        double z = 0;
        for (int k = 0; k < p.length; k++) {
            p[k] = Math.exp(logits[k] - max);
            z += p[k];
        }
        for (int k = 0; k < p.length; k++) {
            p[k] /= z;
        }
        return p;
    }
}
