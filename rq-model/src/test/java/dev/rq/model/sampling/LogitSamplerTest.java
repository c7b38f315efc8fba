package dev.rq.model.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link LogitSampler} carries only the tokens that survive top-k through softmax, top-p and the
 * draw. This checks it against a straightforward whole-row implementation of the same procedure
 * (kept below as {@link WholeRow}): the same code and bitwise the same distribution on random rows
 * with ties, NaN, −∞, extreme logits, every top-k and top-p regime and other temperatures.
 */
class LogitSamplerTest {

    @Test
    void compactRowEqualsWholeRowComputation() {
        Random r = new Random(5);
        int cases = 20_000;
        int drawn = 0;
        for (int it = 0; it < cases; it++) {
            int k = r.nextInt(10) == 0 ? 1024 + r.nextInt(200) : 1 + r.nextInt(r.nextBoolean() ? 8 : 300);
            int rows = 1 + r.nextInt(3);
            float[] l = new float[rows * k];
            int mode = r.nextInt(3);
            for (int i = 0; i < l.length; i++) {
                l[i] = mode == 0 ? (float) r.nextGaussian() * 3 : mode == 1 ? r.nextInt(4) : (float) r.nextGaussian() * 60;
                int special = r.nextInt(50);
                if (special == 0) {
                    l[i] = Float.NaN;
                } else if (special == 1) {
                    l[i] = Float.NEGATIVE_INFINITY;
                }
            }
            int row = r.nextInt(rows);
            int topK = r.nextInt(3) == 0 ? 0 : r.nextInt(k + 2);
            double topP = r.nextInt(3) == 0 ? 1.0 : r.nextDouble();
            double t = r.nextBoolean() ? 1.0 : 0.1 + r.nextDouble() * 2;
            double u = r.nextDouble();
            float[] want;
            try {
                want = WholeRow.probabilities(l, row, k, t, topK, topP);
            } catch (IllegalArgumentException e) {
                assertThatThrownBy(() -> new LogitSampler(k).sample(l, row, t, topK, topP, u))
                        .hasMessage(e.getMessage());
                continue;
            }
            String what = "case " + it + ": k=" + k + " topK=" + topK + " topP=" + topP + " t=" + t;
            assertThat(LogitSampler.probabilities(l, row, k, t, topK, topP)).as(what).containsExactly(want);
            assertThat(new LogitSampler(k).sample(l, row, t, topK, topP, u)).as(what).isEqualTo(LogitSampler.draw(want, u));
            drawn++;
        }
        assertThat(drawn).isGreaterThan(cases / 2);
    }

    @Test
    void oneInstanceGivesTheSameDrawsAsFreshOnes() {
        Random r = new Random(9);
        int k = 1024;
        float[] l = new float[16 * k];
        for (int i = 0; i < l.length; i++) {
            l[i] = (float) r.nextGaussian() * 2;
        }
        LogitSampler reused = new LogitSampler(k);
        int[] a = new int[16];
        int[] b = new int[16];
        for (int row = 0; row < 16; row++) {
            double u = (row + 0.5) / 16;
            a[row] = reused.sample(l, row, 1.0, 100, 0.95, u);
            b[row] = new LogitSampler(k).sample(l, row, 1.0, 100, 0.95, u);
        }
        assertThat(a).containsExactly(b);
        assertThat(Arrays.stream(a).distinct().count()).isGreaterThan(4);
    }

    /** The procedure on the whole row, as first written (reference). */
    static final class WholeRow {

        /** @return the final (top-k, softmax, top-p, renormalised) distribution of one row */
        static float[] probabilities(float[] logits, int row, int k, double temperature, int topK, double topP) {
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

        /** @return the element of rank {@code r} (0-based, ascending): a sorted copy, independent of quickselect */
        static float select(float[] a, int r) {
            float[] sorted = a.clone();
            Arrays.sort(sorted);
            return sorted[r];
        }
    }
}
