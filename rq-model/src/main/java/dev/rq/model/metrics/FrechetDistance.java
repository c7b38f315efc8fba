package dev.rq.model.metrics;

/**
 * The Fréchet distance between two Gaussians, the FID of Heusel et al. (2017):
 *
 * <pre>
 *   d² = ‖μ₁ − μ₂‖² + tr(Σ₁) + tr(Σ₂) − 2·tr((Σ₁Σ₂)^½)
 * </pre>
 *
 * <p>The official {@code frechet_distance} (pytorch-fid's, used by {@code compute_rfid.py})
 * computes the last term with {@code scipy.linalg.sqrtm(Σ₁·Σ₂)} (a Schur-form square root of the
 * non-symmetric product), retries with 1e-6·I added to both covariances when that is not finite,
 * and drops an imaginary part below 1e-3. Here the trace is computed from eigenvalues, which is
 * the same number wherever the square root exists: Σ₁Σ₂ is similar to the symmetric positive
 * semi-definite {@code M = Lᵀ·Σ₂·L} for any factor {@code Σ₁ = L·Lᵀ}, so {@code tr((Σ₁Σ₂)^½) =
 * Σᵢ √λᵢ(M)}. L is a pivoted Cholesky factor (rank-revealing, so singular covariances of fewer
 * samples than dimensions work and cost only their rank); M's eigenvalues come from a Householder
 * tridiagonalisation and implicit QL, all in float64. Eigenvalues below the rounding level of M
 * ({@code r·ε·λ_max}) count as 0 (the square root would otherwise turn their noise into errors of
 * order √ε). On the official fixture this agrees with the stored scipy result to about
 * 1e-12 relative; where scipy fails (singular products, its "Imaginary component" error) this
 * still returns the mathematically defined value. Cost: O(n³) for n×n full-rank covariances
 * (about 10–20 s for 2048-d on two cores), O(n·r²) for rank r.
 */
public final class FrechetDistance {

    private FrechetDistance() {}

    /** @return the Fréchet distance between two feature statistics of the same dimension */
    public static double of(GaussianStats a, GaussianStats b) {
        return of(a.mean(), a.covariance(), b.mean(), b.covariance());
    }

    /**
     * @param mu1 mean, length n
     * @param sigma1 covariance, n×n symmetric positive semi-definite
     * @param mu2 mean, length n
     * @param sigma2 covariance, n×n symmetric positive semi-definite
     * @return d² as above (≥ 0 up to rounding)
     */
    public static double of(double[] mu1, double[][] sigma1, double[] mu2, double[][] sigma2) {
        int n = mu1.length;
        if (mu2.length != n || sigma1.length != n || sigma2.length != n) {
            throw new IllegalArgumentException("Fréchet distance of statistics of different dimensions: means "
                    + mu1.length + " and " + mu2.length + ", covariances " + sigma1.length + " and " + sigma2.length);
        }
        double diff = 0;
        for (int i = 0; i < n; i++) {
            double d = mu1[i] - mu2[i];
            diff += d * d;
        }
        return diff + trace(sigma1) + trace(sigma2) - 2 * traceSqrtProduct(sigma1, sigma2);
    }

    /** @return {@code tr((Σ₁Σ₂)^½)} for symmetric positive semi-definite Σ₁, Σ₂ */
    public static double traceSqrtProduct(double[][] sigma1, double[][] sigma2) {
        double[][] l = DenseMatrices.pivotedCholesky(sigma1); // n×r, Σ₁ = L·Lᵀ
        double[][] m = DenseMatrices.multiplyTransposed(l, DenseMatrices.multiply(sigma2, l)); // r×r
        double[] lambda = DenseMatrices.symmetricEigenvalues(m); // ascending
        // eigenvalues within rounding of zero are zero: √ would turn their noise (~ε·λmax) into ~√ε
        double floor = lambda.length == 0 ? 0 : lambda.length * Math.ulp(1.0) * Math.abs(lambda[lambda.length - 1]);
        double sum = 0;
        for (double v : lambda) {
            sum += v > floor ? Math.sqrt(v) : 0;
        }
        return sum;
    }

    /** @return the trace of a square matrix */
    public static double trace(double[][] a) {
        double t = 0;
        for (int i = 0; i < a.length; i++) {
            t += a[i][i];
        }
        return t;
    }
}
