package dev.rq.model.quantizer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.distributed.Collective;
import dev.rq.model.kernels.Kernels;
import dev.rq.model.nn.Tensors;
import dev.rq.model.util.Rng;

/**
 * Data-parallel k-means: k-means++ seeding (Arthur and Vassilvitskii, "k-means++: The Advantages
 * of Careful Seeding", SODA 2007) and Lloyd iterations, over points spread across the ranks of a
 * {@link Collective}.
 *
 * <p>Every rank holds a slice of the points; the slices concatenated in rank order are the whole
 * set, and every rank passes a generator in the same state. Then every rank computes the same
 * centroids, and they are those one rank computes on the whole set (up to float rounding of the
 * summation order, which the tests bound):
 *
 * <pre>
 * seed:  c_0 = point at a uniform global index            (its owner broadcasts it)
 *        repeat K−1 times: D²(x) = min_j ‖x − c_j‖² on each rank;
 *          totals per rank all-reduced; u ~ U[0, ΣD²); the rank whose prefix covers u
 *          picks its row by cumulative D² and broadcasts it
 * lloyd: assign each local point to its nearest centroid (‖x‖² − 2x·c + ‖c‖², first minimum);
 *        per-centroid sums and counts in double, all-reduced; c_k = sum_k / count_k
 *        (an empty centroid keeps its position)
 * </pre>
 *
 * Communication per seed step is two small collectives (K rounds in all); per Lloyd iteration one
 * all-reduce of K·(C+1)+1 doubles. Points: x [n_r, C] float32 on any device.
 */
public final class KMeans {

    private static final int CHUNK = 8192;

    private KMeans() {}

    /**
     * The result of a Lloyd iteration (or a fit).
     *
     * @param centroids [K, C] row-major, after the update
     * @param counts [K] global points per centroid in this iteration's assignment
     * @param inertia global sum of squared distances to the nearest centroid before the update
     */
    public record Iteration(float[] centroids, double[] counts, double inertia) {}

    /**
     * Seeds, then runs {@code iterations} Lloyd iterations.
     *
     * @param x this rank's points [n_r, C]
     * @param k number of centroids K
     * @param rng seeding draws; must be in the same state on every rank (advanced identically)
     */
    public static Iteration fit(NDArray x, int k, int iterations, Rng rng, Collective c) {
        float[] centroids = seed(x, k, rng, c);
        Iteration it = null;
        for (int i = 0; i < iterations; i++) {
            it = lloyd(x, centroids, k, c);
            centroids = it.centroids();
        }
        return it != null ? it : lloyd(x, centroids, k, c);
    }

    /**
     * k-means++ seeding. With fewer distinct points than K, the remaining centroids repeat points
     * (drawn uniformly once every point is a centroid).
     *
     * @param x this rank's points [n_r, C]
     * @return centroids [K, C] row-major
     */
    public static float[] seed(NDArray x, int k, Rng rng, Collective c) {
        int dim = (int) x.getShape().get(1);
        int n = (int) x.getShape().get(0);
        double[] sizes = perRank(n, c);
        double total = 0;
        for (double s : sizes) {
            total += s;
        }
        if (total == 0) {
            throw new IllegalArgumentException("k-means needs at least one point, got none on any rank");
        }
        float[] out = new float[k * dim];
        float[] d2 = new float[n];
        java.util.Arrays.fill(d2, Float.POSITIVE_INFINITY);
        float[] host = x.toFloatArray(); // [n, C]
        try (NDScope scope = new NDScope()) { // frees every temporary tensor of the seeding
            NDArray xsq = x.square().sum(new int[] {1}); // [n]
            for (int j = 0; j < k; j++) {
                float[] centre = new float[dim];
                double[] mass = j == 0 ? sizes : perRank(sum(d2), c);
                double all = 0;
                for (double v : mass) {
                    all += v;
                }
                boolean uniform = j == 0 || !(all > 0);
                if (uniform) {
                    mass = sizes;
                    all = total;
                }
                double u = rng.nextDouble() * all;
                int owner = owner(mass, u);
                if (owner == c.rank()) {
                    double local = u - prefix(mass, owner);
                    int row = uniform ? Math.min(n - 1, (int) Math.floor(local)) : pick(d2, local);
                    System.arraycopy(host, row * dim, centre, 0, dim);
                }
                if (c.worldSize() > 1) {
                    c.broadcast(centre, owner);
                }
                System.arraycopy(centre, 0, out, j * dim, dim);
                if (j + 1 < k) {
                    update(d2, x, xsq, centre);
                }
            }
        }
        return out;
    }

    /**
     * One Lloyd iteration.
     *
     * @param x this rank's points [n_r, C]
     * @param centroids [K, C] row-major (not modified)
     */
    public static Iteration lloyd(NDArray x, float[] centroids, int k, Collective c) {
        int dim = (int) x.getShape().get(1);
        int n = (int) x.getShape().get(0);
        Assignment a = assign(x, centroids, k);
        float[] host = x.toFloatArray();
        double[] acc = new double[k * (dim + 1) + 1]; // sums [K, C], counts [K], inertia
        for (int i = 0; i < n; i++) {
            int kk = a.index()[i];
            int base = kk * dim;
            int row = i * dim;
            for (int j = 0; j < dim; j++) {
                acc[base + j] += host[row + j];
            }
            acc[k * dim + kk] += 1;
            acc[k * (dim + 1)] += a.distance()[i];
        }
        if (c.worldSize() > 1) {
            c.allReduceSum(acc);
        }
        float[] next = centroids.clone();
        double[] counts = new double[k];
        for (int kk = 0; kk < k; kk++) {
            double cnt = acc[k * dim + kk];
            counts[kk] = cnt;
            if (cnt > 0) {
                for (int j = 0; j < dim; j++) {
                    next[kk * dim + j] = (float) (acc[kk * dim + j] / cnt);
                }
            }
        }
        return new Iteration(next, counts, acc[k * (dim + 1)]);
    }

    /**
     * Nearest centroids.
     *
     * @param index [n] nearest centroid per point (first minimum)
     * @param distance [n] its squared distance (clamped at 0)
     */
    public record Assignment(int[] index, float[] distance) {}

    /**
     * Nearest centroid of every point, in chunks of rows (memory O(chunk·K)).
     *
     * @param x [n, C]
     * @param centroids [K, C] row-major
     */
    public static Assignment assign(NDArray x, float[] centroids, int k) {
        int dim = (int) x.getShape().get(1);
        int n = (int) x.getShape().get(0);
        int[] idx = new int[n];
        float[] dist = new float[n];
        try (NDScope scope = new NDScope()) { // frees every temporary tensor
            NDArray e = Tensors.of(x.getManager(), centroids, new Shape(k, dim)); // [K, C]
            NDArray et = e.transpose().duplicate(); // [C, K]
            NDArray esq = e.square().sum(new int[] {1}).reshape(1, k); // [1, K]
            for (int from = 0; from < n; from += CHUNK) {
                int to = Math.min(n, from + CHUNK);
                try (NDScope chunk = new NDScope()) {
                    NDArray xc = x.get(new NDIndex(from + ":" + to)); // [b, C]
                    NDArray d = xc.square().sum(new int[] {1}, true).add(esq).sub(xc.matMul(et).mul(2f)); // [b, K]
                    NDArray best = Kernels.argminRows(d); // [b]
                    long[] bi = best.toLongArray();
                    float[] all = d.toFloatArray();
                    for (int i = 0; i < bi.length; i++) {
                        idx[from + i] = (int) bi[i];
                        dist[from + i] = Math.max(0f, all[i * k + (int) bi[i]]);
                    }
                }
            }
        }
        return new Assignment(idx, dist);
    }

    /** D²(x) ← min(D²(x), ‖x − c‖²) with ‖x‖² − 2x·c + ‖c‖² clamped at 0. */
    private static void update(float[] d2, NDArray x, NDArray xsq, float[] centre) {
        float csq = 0;
        for (float v : centre) {
            csq += v * v;
        }
        try (NDScope scope = new NDScope()) {
            NDArray cv = Tensors.of(x.getManager(), centre, new Shape(centre.length, 1)); // [C, 1]
            NDArray dot = x.matMul(cv).reshape(-1); // [n]
            float[] d = xsq.sub(dot.mul(2f)).toFloatArray();
            for (int i = 0; i < d2.length; i++) {
                float v = Math.max(0f, d[i] + csq);
                if (v < d2[i]) {
                    d2[i] = v;
                }
            }
        }
    }

    /** @return the local row whose cumulative D² first exceeds {@code u} (the last positive row on rounding) */
    private static int pick(float[] d2, double u) {
        double acc = 0;
        int last = 0;
        for (int i = 0; i < d2.length; i++) {
            if (d2[i] > 0) {
                acc += d2[i];
                last = i;
                if (u < acc) {
                    return i;
                }
            }
        }
        return last;
    }

    private static double sum(float[] v) {
        double s = 0;
        for (float f : v) {
            s += f;
        }
        return s;
    }

    /** @return every rank's {@code value}, indexed by rank (exact: each slot is summed with zeros) */
    private static double[] perRank(double value, Collective c) {
        double[] v = new double[c.worldSize()];
        v[c.rank()] = value;
        if (c.worldSize() > 1) {
            c.allReduceSum(v);
        }
        return v;
    }

    private static int owner(double[] mass, double u) {
        double acc = 0;
        int last = 0;
        for (int r = 0; r < mass.length; r++) {
            if (mass[r] > 0) {
                acc += mass[r];
                last = r;
                if (u < acc) {
                    return r;
                }
            }
        }
        return last;
    }

    private static double prefix(double[] mass, int r) {
        double acc = 0;
        for (int i = 0; i < r; i++) {
            acc += mass[i];
        }
        return acc;
    }
}
