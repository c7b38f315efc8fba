package dev.rq.model.metrics;

import dev.rq.model.npy.Npy;
import dev.rq.model.npy.Npz;
import java.util.stream.IntStream;

/**
 * The mean and covariance of a set of feature vectors, as FID uses them: {@code μ = mean(x)} and
 * {@code Σ = Σᵢ (xᵢ − μ)(xᵢ − μ)ᵀ / (N − 1)} (numpy's {@code np.cov(x, rowvar=False)}), in
 * float64.
 *
 * <p>Large sets are summarised in {@link Block}s of consecutive rows (two passes over the block:
 * mean, then the centred scatter matrix) that are merged in a fixed order with the pairwise update
 * of Chan, Golub and LeVeque (1979). For a fixed block size the result depends only on the rows and
 * their order, not on which machine summarised which block, so a distributed job gets the same
 * bits with any number of workers.
 *
 * @param count N
 * @param mean μ, length d
 * @param covariance Σ, d×d (N − 1 divisor; all zeros when N = 1)
 */
public record GaussianStats(long count, double[] mean, double[][] covariance) {

    public GaussianStats {
        if (covariance.length != mean.length) {
            throw new IllegalArgumentException("mean of length " + mean.length + " with a covariance of "
                    + covariance.length + " rows");
        }
        for (double[] row : covariance) {
            if (row.length != mean.length) {
                throw new IllegalArgumentException("covariance is not " + mean.length + "x" + mean.length);
            }
        }
    }

    /** @return d */
    public int dim() {
        return mean.length;
    }

    /** Names of the arrays in an {@code .npz} statistics file (pytorch-fid's layout plus the count). */
    public static final String MU = "mu";
    /** Covariance array name. */
    public static final String SIGMA = "sigma";
    /** Sample-count array name (absent from pytorch-fid's files). */
    public static final String COUNT = "count";

    /**
     * Reads statistics from an {@code .npz} archive with {@code mu} [d] and {@code sigma} [d, d]
     * (float32 or float64, as pytorch-fid and the official {@code assets/fid_stats} write them)
     * and optionally {@code count}; a missing count reads as 0 (unknown). The covariance must be
     * symmetric (to 1e-9 relative); it is symmetrised exactly.
     *
     * @param name for error messages
     */
    public static GaussianStats readNpz(java.io.InputStream in, String name) throws java.io.IOException {
        java.util.Map<String, Npy.Array> a = Npz.read(in, name);
        if (!a.containsKey(MU) || !a.containsKey(SIGMA)) {
            throw new java.io.IOException(name + ": FID statistics need arrays 'mu' and 'sigma', found " + a.keySet());
        }
        double[] mu = a.get(MU).vector();
        double[][] sigma = a.get(SIGMA).matrix();
        if (sigma.length != mu.length || (sigma.length > 0 && sigma[0].length != mu.length)) {
            throw new java.io.IOException(name + ": 'sigma' is " + sigma.length + "x"
                    + (sigma.length > 0 ? sigma[0].length : 0) + ", 'mu' has " + mu.length + " entries");
        }
        double max = 0;
        double asym = 0;
        for (int i = 0; i < sigma.length; i++) {
            for (int j = 0; j < i; j++) {
                max = Math.max(max, Math.max(Math.abs(sigma[i][j]), Math.abs(sigma[i][i])));
                asym = Math.max(asym, Math.abs(sigma[i][j] - sigma[j][i]));
                double m = (sigma[i][j] + sigma[j][i]) / 2;
                sigma[i][j] = m;
                sigma[j][i] = m;
            }
        }
        if (asym > 1e-9 * max) {
            throw new java.io.IOException(name + ": 'sigma' is not symmetric (largest difference " + asym + ")");
        }
        long count = a.containsKey(COUNT) ? (long) a.get(COUNT).data()[0] : 0;
        return new GaussianStats(count, mu, sigma);
    }

    /** Writes {@code mu}, {@code sigma} (float64) and {@code count} as an uncompressed {@code .npz}. */
    public void writeNpz(java.io.OutputStream out) throws java.io.IOException {
        java.util.Map<String, Npy.Array> a = new java.util.LinkedHashMap<>();
        a.put(MU, Npy.Array.of(mean));
        a.put(SIGMA, Npy.Array.of(covariance));
        a.put(COUNT, new Npy.Array(new long[0], new double[] {count}));
        Npz.write(a, out);
    }

    /** @return the statistics of {@code rows} (at least two), one block */
    public static GaussianStats of(float[][] rows) {
        if (rows.length < 2) {
            throw new IllegalArgumentException("statistics need at least 2 feature vectors, got " + rows.length);
        }
        return Block.of(rows).toStats();
    }

    /**
     * Sufficient statistics of consecutive rows: count, mean and centred scatter {@code Σ (x −
     * m)(x − m)ᵀ} (upper and lower triangle filled).
     *
     * @param count rows
     * @param mean their mean
     * @param scatter d×d centred scatter matrix
     */
    public record Block(long count, double[] mean, double[][] scatter) {

        /** @return the block statistics of {@code rows} (same length each), in float64 */
        public static Block of(float[][] rows) {
            int n = rows.length;
            if (n == 0) {
                throw new IllegalArgumentException("empty block");
            }
            int d = rows[0].length;
            double[] mean = new double[d];
            for (float[] r : rows) {
                if (r.length != d) {
                    throw new IllegalArgumentException("feature vectors of lengths " + d + " and " + r.length);
                }
                for (int j = 0; j < d; j++) {
                    mean[j] += r[j];
                }
            }
            for (int j = 0; j < d; j++) {
                mean[j] /= n;
            }
            double[][] y = new double[n][d]; // centred rows
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < d; j++) {
                    y[i][j] = rows[i][j] - mean[j];
                }
            }
            return new Block(n, mean, scatter(y, d));
        }

        /**
         * Merges the next block (rows after this block's) into a new one: {@code δ = m_b − m_a},
         * {@code m = m_a + δ·n_b/n}, {@code S = S_a + S_b + δδᵀ·n_a·n_b/n}.
         */
        public Block merge(Block b) {
            int d = mean.length;
            if (b.mean.length != d) {
                throw new IllegalArgumentException("blocks of dimensions " + d + " and " + b.mean.length);
            }
            long n = count + b.count;
            double[] delta = new double[d];
            double[] m = new double[d];
            for (int j = 0; j < d; j++) {
                delta[j] = b.mean[j] - mean[j];
                m[j] = mean[j] + delta[j] * b.count / n;
            }
            double w = (double) count * b.count / n;
            double[][] s = new double[d][d];
            IntStream.range(0, d).parallel().forEach(i -> {
                double[] si = s[i];
                double[] ai = scatter[i];
                double[] bi = b.scatter[i];
                double di = delta[i] * w;
                for (int j = 0; j < d; j++) {
                    si[j] = ai[j] + bi[j] + di * delta[j];
                }
            });
            return new Block(n, m, s);
        }

        /** @return the statistics (covariance = scatter / (N − 1)) */
        public GaussianStats toStats() {
            int d = mean.length;
            double[][] cov = new double[d][d];
            double div = count > 1 ? count - 1 : 1;
            for (int i = 0; i < d; i++) {
                for (int j = 0; j < d; j++) {
                    cov[i][j] = count > 1 ? scatter[i][j] / div : 0;
                }
            }
            return new GaussianStats(count, mean.clone(), cov);
        }

        /**
         * {@code Yᵀ·Y} of centred rows: the upper triangle in tiles of output rows (in parallel;
         * each element is summed over the rows in order, so the thread count does not matter),
         * then mirrored.
         */
        private static double[][] scatter(double[][] y, int d) {
            double[][] s = new double[d][d];
            int n = y.length;
            int tile = 32; // output rows per task: they stay in cache while y streams past once
            IntStream.range(0, (d + tile - 1) / tile).parallel().forEach(b -> {
                int i0 = b * tile;
                int i1 = Math.min(d, i0 + tile);
                for (int t = 0; t < n; t++) {
                    double[] yt = y[t];
                    for (int i = i0; i < i1; i++) {
                        double f = yt[i];
                        double[] si = s[i];
                        for (int j = i; j < d; j++) {
                            si[j] += f * yt[j];
                        }
                    }
                }
            });
            for (int i = 0; i < d; i++) {
                for (int j = 0; j < i; j++) {
                    s[i][j] = s[j][i];
                }
            }
            return s;
        }
    }
}
