package dev.rq.model.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.rq.model.npy.Npy;
import dev.rq.model.npy.Npz;
import dev.rq.model.util.Rng;
import java.io.IOException;
import java.io.InputStream;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The Fréchet distance against pytorch-fid's scipy {@code sqrtm} result (golden values from
 * {@code src/test/resources/metrics/make_reference.py}), its symmetry, FID(set, set) = 0, and the
 * linear algebra underneath.
 */
class FrechetDistanceTest {

    static Map<String, Npy.Array> reference() throws IOException {
        try (InputStream in = FrechetDistanceTest.class.getResourceAsStream("/metrics/fid-reference.npz")) {
            return Npz.read(in, "fid-reference.npz");
        }
    }

    static float[][] rows(Npy.Array a) {
        double[][] m = a.matrix();
        float[][] f = new float[m.length][m[0].length];
        for (int i = 0; i < m.length; i++) {
            for (int j = 0; j < m[i].length; j++) {
                f[i][j] = (float) m[i][j];
            }
        }
        return f;
    }

    @Test
    void matchesScipySqrtmOnFullRankStatistics() throws IOException {
        Map<String, Npy.Array> ref = reference();
        GaussianStats a = GaussianStats.of(rows(ref.get("full_a")));
        GaussianStats b = GaussianStats.of(rows(ref.get("full_b")));
        double[][] sigma = ref.get("full_sigma_a").matrix();
        for (int i = 0; i < sigma.length; i++) {
            for (int j = 0; j < sigma.length; j++) {
                assertThat(a.covariance()[i][j]).isCloseTo(sigma[i][j], within(1e-12));
            }
        }
        double expected = ref.get("full_fid").data()[0];
        assertThat(FrechetDistance.of(a, b)).isCloseTo(expected, within(1e-9 * expected));
        assertThat(FrechetDistance.of(b, a)).isCloseTo(expected, within(1e-9 * expected));
    }

    @Test
    void rankDeficientCovariancesGiveTheEigenvalueForm() throws IOException {
        Map<String, Npy.Array> ref = reference();
        GaussianStats a = GaussianStats.of(rows(ref.get("rank_a"))); // 20 samples in 48-d: rank 19
        GaussianStats b = GaussianStats.of(rows(ref.get("rank_b"))); // rank 29
        double expected = ref.get("rank_fid_eig").data()[0];
        assertThat(DenseMatrices.pivotedCholesky(a.covariance())[0]).hasSize(19);
        assertThat(FrechetDistance.of(a, b)).isCloseTo(expected, within(1e-7 * expected));
        assertThat(FrechetDistance.of(b, a)).isCloseTo(FrechetDistance.of(a, b), within(1e-9 * expected));
    }

    @Test
    void distanceOfASetToItselfIsZero() throws IOException {
        Map<String, Npy.Array> ref = reference();
        for (String k : new String[] {"full_a", "rank_a"}) {
            GaussianStats s = GaussianStats.of(rows(ref.get(k)));
            double scale = FrechetDistance.trace(s.covariance());
            assertThat(FrechetDistance.of(s, s)).as(k).isCloseTo(0.0, within(1e-6 * scale));
        }
    }

    @Test
    void commutingCovariancesHaveTheClosedForm() {
        // Σ₁ = Q·diag(a)·Qᵀ, Σ₂ = Q·diag(b)·Qᵀ: tr((Σ₁Σ₂)^½) = Σ √(aᵢbᵢ)
        int n = 30;
        double[][] q = orthogonal(n, new Rng(3));
        double[] a = new double[n];
        double[] b = new double[n];
        double expected = 0;
        Rng rng = new Rng(4);
        for (int i = 0; i < n; i++) {
            a[i] = i < 25 ? 0.1 + rng.nextDouble() : 0; // singular Σ₁
            b[i] = 0.1 + 3 * rng.nextDouble();
            expected += Math.sqrt(a[i] * b[i]);
        }
        double got = FrechetDistance.traceSqrtProduct(conjugate(q, a), conjugate(q, b));
        assertThat(got).isCloseTo(expected, within(1e-10 * expected));
    }

    @Test
    void symmetricEigenvaluesOfARotatedDiagonal() {
        int n = 57;
        double[][] q = orthogonal(n, new Rng(9));
        double[] lambda = new double[n];
        for (int i = 0; i < n; i++) {
            lambda[i] = i - 20.5; // indefinite, ascending
        }
        double[] got = DenseMatrices.symmetricEigenvalues(conjugate(q, lambda));
        for (int i = 0; i < n; i++) {
            assertThat(got[i]).isCloseTo(lambda[i], within(1e-11));
        }
    }

    @Test
    void differentDimensionsAreAnError() {
        GaussianStats a = new GaussianStats(3, new double[2], new double[2][2]);
        GaussianStats b = new GaussianStats(3, new double[3], new double[3][3]);
        assertThatThrownBy(() -> FrechetDistance.of(a, b)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("different dimensions");
    }

    /** @return a random orthogonal matrix (Gram–Schmidt of a Gaussian matrix) */
    static double[][] orthogonal(int n, Rng rng) {
        double[][] q = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                q[i][j] = rng.nextGaussian();
            }
            for (int k = 0; k < i; k++) {
                double dot = 0;
                for (int j = 0; j < n; j++) {
                    dot += q[i][j] * q[k][j];
                }
                for (int j = 0; j < n; j++) {
                    q[i][j] -= dot * q[k][j];
                }
            }
            double norm = 0;
            for (int j = 0; j < n; j++) {
                norm += q[i][j] * q[i][j];
            }
            for (int j = 0; j < n; j++) {
                q[i][j] /= Math.sqrt(norm);
            }
        }
        return q;
    }

    /** @return Qᵀ·diag(d)·Q (rows of q orthonormal) */
    static double[][] conjugate(double[][] q, double[] d) {
        int n = d.length;
        double[][] m = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int k = 0; k < n; k++) {
                    s += q[k][i] * d[k] * q[k][j];
                }
                m[i][j] = s;
            }
        }
        return m;
    }
}
