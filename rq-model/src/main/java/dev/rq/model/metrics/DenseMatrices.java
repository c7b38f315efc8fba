package dev.rq.model.metrics;

import java.util.stream.IntStream;

/**
 * The float64 dense linear algebra the Fréchet distance needs, in plain Java (libtorch's DJL
 * binding has no eigen-solver): a pivoted Cholesky factorisation of a positive semi-definite
 * matrix, matrix products, and the eigenvalues of a symmetric matrix (Householder
 * tridiagonalisation, then the implicit QL method, as EISPACK's {@code tred2}/{@code tql1} and
 * JAMA's {@code EigenvalueDecomposition}, without eigenvectors).
 *
 * <p>Matrices are {@code double[rows][cols]}. Products run rows in parallel; every output element
 * is accumulated by one thread in a fixed order, so results do not depend on the thread count.
 */
final class DenseMatrices {

    private DenseMatrices() {}

    /**
     * Pivoted (rank-revealing) Cholesky factorisation {@code A ≈ L·Lᵀ} of a symmetric positive
     * semi-definite matrix, stopping when the largest remaining diagonal is at most {@code n·ε·
     * max(diag A)} (LAPACK {@code dpstrf}'s default tolerance): a covariance of N &lt; n samples
     * has rank ≤ N − 1 and gets that many columns.
     *
     * @param a symmetric n×n (only read)
     * @return L, n×r (r = numerical rank; rows in the original order)
     */
    static double[][] pivotedCholesky(double[][] a) {
        int n = a.length;
        double[] d = new double[n];
        double maxDiag = 0;
        for (int i = 0; i < n; i++) {
            d[i] = a[i][i];
            maxDiag = Math.max(maxDiag, d[i]);
        }
        double tol = n * Math.ulp(1.0) * maxDiag;
        double[][] cols = new double[n][]; // cols[k] = column k of L, length n
        boolean[] used = new boolean[n];
        int r = 0;
        for (; r < n; r++) {
            int p = -1;
            for (int i = 0; i < n; i++) {
                if (!used[i] && (p < 0 || d[i] > d[p])) {
                    p = i;
                }
            }
            if (!(d[p] > tol)) {
                break;
            }
            used[p] = true;
            double piv = Math.sqrt(d[p]);
            double[] col = new double[n];
            double[] ap = a[p];
            for (int i = 0; i < n; i++) {
                col[i] = used[i] && i != p ? 0 : ap[i];
            }
            for (int k = 0; k < r; k++) { // col −= L[:,k]·L[p,k]
                double[] ck = cols[k];
                double f = ck[p];
                if (f != 0) {
                    for (int i = 0; i < n; i++) {
                        col[i] -= ck[i] * f;
                    }
                }
            }
            for (int i = 0; i < n; i++) {
                col[i] = used[i] && i != p ? 0 : col[i] / piv;
            }
            col[p] = piv;
            for (int i = 0; i < n; i++) {
                if (!used[i]) {
                    d[i] -= col[i] * col[i];
                }
            }
            cols[r] = col;
        }
        double[][] l = new double[n][r];
        for (int k = 0; k < r; k++) {
            for (int i = 0; i < n; i++) {
                l[i][k] = cols[k][i];
            }
        }
        return l;
    }

    /** @return {@code A·B} (m×k times k×n) */
    static double[][] multiply(double[][] a, double[][] b) {
        int m = a.length;
        int k = b.length;
        int n = k == 0 ? 0 : b[0].length;
        double[][] c = new double[m][n];
        IntStream.range(0, m).parallel().forEach(i -> {
            double[] ci = c[i];
            double[] ai = a[i];
            for (int t = 0; t < k; t++) {
                double f = ai[t];
                if (f != 0) {
                    double[] bt = b[t];
                    for (int j = 0; j < n; j++) {
                        ci[j] += f * bt[j];
                    }
                }
            }
        });
        return c;
    }

    /** @return {@code Aᵀ·B} (A is k×m, B is k×n) */
    static double[][] multiplyTransposed(double[][] a, double[][] b) {
        int k = a.length;
        int m = k == 0 ? 0 : a[0].length;
        int n = k == 0 ? 0 : b[0].length;
        double[][] c = new double[m][n];
        IntStream.range(0, m).parallel().forEach(i -> {
            double[] ci = c[i];
            for (int t = 0; t < k; t++) {
                double f = a[t][i];
                if (f != 0) {
                    double[] bt = b[t];
                    for (int j = 0; j < n; j++) {
                        ci[j] += f * bt[j];
                    }
                }
            }
        });
        return c;
    }

    /**
     * Eigenvalues of a symmetric matrix.
     *
     * @param sym symmetric n×n; destroyed (used as work space)
     * @return the n eigenvalues, ascending
     */
    static double[] symmetricEigenvalues(double[][] sym) {
        int n = sym.length;
        if (n == 0) {
            return new double[0];
        }
        double[] d = new double[n];
        double[] e = new double[n];
        tridiagonalize(sym, d, e);
        tql1(d, e);
        java.util.Arrays.sort(d);
        return d;
    }

    /**
     * Householder reduction to tridiagonal form (EISPACK {@code tred2} without accumulating the
     * transformations). Works on the upper triangle {@code w[j][k], k ≥ j} (the transpose of the
     * lower triangle the classic code uses), so the inner loops read rows contiguously.
     *
     * @param w symmetric n×n, destroyed
     * @param d out: the diagonal
     * @param e out: the sub-diagonal in {@code e[1..n-1]}, {@code e[0] = 0}
     */
    private static void tridiagonalize(double[][] w, double[] d, double[] e) {
        int n = w.length;
        for (int j = 0; j < n; j++) {
            d[j] = w[j][n - 1];
        }
        for (int i = n - 1; i > 0; i--) {
            double scale = 0;
            double h = 0;
            for (int k = 0; k < i; k++) {
                scale += Math.abs(d[k]);
            }
            if (scale == 0) {
                e[i] = d[i - 1];
                for (int j = 0; j < i; j++) {
                    d[j] = w[j][i - 1];
                    w[j][i] = 0;
                }
            } else {
                for (int k = 0; k < i; k++) {
                    d[k] /= scale;
                    h += d[k] * d[k];
                }
                double f = d[i - 1];
                double g = f > 0 ? -Math.sqrt(h) : Math.sqrt(h);
                e[i] = scale * g;
                h -= f * g;
                d[i - 1] = f - g;
                java.util.Arrays.fill(e, 0, i, 0.0);
                for (int j = 0; j < i; j++) { // e = A·u (A symmetric, upper triangle w[j][k], k ≥ j)
                    f = d[j];
                    double[] wj = w[j];
                    g = e[j] + wj[j] * f;
                    for (int k = j + 1; k < i; k++) {
                        g += wj[k] * d[k];
                        e[k] += wj[k] * f;
                    }
                    e[j] = g;
                }
                f = 0;
                for (int j = 0; j < i; j++) {
                    e[j] /= h;
                    f += e[j] * d[j];
                }
                double hh = f / (h + h);
                for (int j = 0; j < i; j++) {
                    e[j] -= hh * d[j];
                }
                for (int j = 0; j < i; j++) { // A −= u·pᵀ + p·uᵀ
                    f = d[j];
                    g = e[j];
                    double[] wj = w[j];
                    for (int k = j; k < i; k++) {
                        wj[k] -= f * e[k] + g * d[k];
                    }
                    d[j] = wj[i - 1];
                    wj[i] = 0;
                }
            }
        }
        for (int j = 0; j < n; j++) {
            d[j] = w[j][j];
        }
        e[0] = 0;
    }

    /** Implicit QL iterations on a symmetric tridiagonal matrix (eigenvalues into {@code d}). */
    private static void tql1(double[] d, double[] e) {
        int n = d.length;
        for (int i = 1; i < n; i++) {
            e[i - 1] = e[i];
        }
        e[n - 1] = 0;
        double f = 0;
        double tst1 = 0;
        double eps = Math.ulp(1.0);
        for (int l = 0; l < n; l++) {
            tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
            int m = l;
            while (m < n - 1 && Math.abs(e[m]) > eps * tst1) {
                m++;
            }
            if (m > l) {
                int iter = 0;
                do {
                    if (++iter > 100) {
                        throw new ArithmeticException("symmetric eigenvalues did not converge");
                    }
                    double g = d[l];
                    double p = (d[l + 1] - g) / (2 * e[l]);
                    double r = Math.hypot(p, 1);
                    if (p < 0) {
                        r = -r;
                    }
                    d[l] = e[l] / (p + r);
                    d[l + 1] = e[l] * (p + r);
                    double dl1 = d[l + 1];
                    double h = g - d[l];
                    for (int i = l + 2; i < n; i++) {
                        d[i] -= h;
                    }
                    f += h;
                    p = d[m];
                    double c = 1;
                    double c2 = c;
                    double c3 = c;
                    double el1 = e[l + 1];
                    double s = 0;
                    double s2 = 0;
                    for (int i = m - 1; i >= l; i--) {
                        c3 = c2;
                        c2 = c;
                        s2 = s;
                        g = c * e[i];
                        h = c * p;
                        r = Math.hypot(p, e[i]);
                        e[i + 1] = s * r;
                        s = e[i] / r;
                        c = p / r;
                        p = c * d[i] - s * g;
                        d[i + 1] = h + s * (c * g + s * d[i]);
                    }
                    p = -s * s2 * c3 * el1 * e[l] / dl1;
                    e[l] = s * p;
                    d[l] = c * p;
                } while (Math.abs(e[l]) > eps * tst1);
            }
            d[l] += f;
            e[l] = 0;
        }
    }
}
