package dev.rq.model.quantizer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.distributed.Collective;
import dev.rq.model.distributed.TreeSum;
import dev.rq.model.engine.Precision;
import dev.rq.model.engine.Switches;
import dev.rq.model.kernels.Kernels;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.nn.Tensors;
import dev.rq.model.util.Rng;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * One EMA codebook ({@code VQEmbedding} of the official code, spec §2.1–2.6).
 *
 * <p>Tensors (official keys under {@code quantizer.codebooks.<d>}): {@code weight} [K+1, C] (row K
 * is the zero padding row, never selected or updated), {@code cluster_size_ema} [K], {@code
 * embed_ema} [K, C]. None of them is trained by gradient: training-mode lookups update the EMA
 * buffers, optionally restart unused codes, and refresh the weight with Laplace smoothing.
 *
 * <p>Distributed training: counts and sums are all-reduced, and restart candidates are drawn from
 * the gathered vectors of all ranks with a generator in the same state on every rank, so N ranks
 * compute exactly what one rank with the whole batch computes.
 */
public final class VqCodebook {

    private final ParamStore ps;
    private final String weightKey;
    private final String clusterKey;
    private final String embedKey;
    private final int size;
    private final int dim;
    private final double decay;
    private final double eps;
    private final boolean restartUnused;
    private final float restartThreshold;
    private volatile double lastDeadFraction;

    /**
     * @param restartThreshold a code is unused when its EMA count is below this (official: 1)
     */
    VqCodebook(ParamStore ps, String prefix, int size, int dim, double decay, double eps, boolean restart,
            double restartThreshold) {
        this.restartThreshold = (float) restartThreshold;
        this.ps = ps;
        this.size = size;
        this.dim = dim;
        this.decay = decay;
        this.eps = eps;
        this.restartUnused = restart;
        this.weightKey = ps.declare(prefix + ".weight", new long[] {size + 1, dim}, ParamStore.Init.NORMAL, 0, false);
        this.clusterKey = ps.declare(prefix + ".cluster_size_ema", new long[] {size}, ParamStore.Init.ZEROS, 0, false);
        this.embedKey = ps.declare(prefix + ".embed_ema", new long[] {size, dim}, ParamStore.Init.ZEROS, 0, false);
    }

    /** Completes random initialisation: zero padding row, {@code embed_ema = weight[0:K]}. */
    void initBuffers() {
        NDArray w = ps.get(weightKey);
        w.set(new NDIndex(size), 0f);
        ps.set(embedKey, w.get(new NDIndex("0:" + size)).duplicate());
    }

    /**
     * Sets the codebook from fitted centroids (k-means initialisation): {@code weight[0:K] =
     * centroids}, {@code cluster_size_ema = counts}, {@code embed_ema = centroids · counts}, so the
     * next weight refresh reproduces the centroids and codes start with the usage they had in the
     * fit.
     *
     * @param centroids [K, C] row-major
     * @param counts [K] expected assignments per training call (EMA counts)
     */
    public void initFrom(float[] centroids, float[] counts) {
        if (centroids.length != size * dim || counts.length != size) {
            throw new IllegalArgumentException("centroids must be [" + size + ", " + dim + "] and counts [" + size
                    + "], got " + centroids.length + " and " + counts.length + " values");
        }
        NDManager m = ps.manager();
        // in place: arrays made here belong to the caller's NDScope (k-means runs inside one) and
        // would be released with it if they replaced the buffers
        try (NDArray c = Tensors.of(m, centroids, new Shape(size, dim));
                NDArray n = Tensors.of(m, counts, new Shape(size));
                NDArray e = c.mul(n.reshape(size, 1))) {
            ps.get(weightKey).set(new NDIndex("0:" + size), c);
            ps.get(embedKey).set(new NDIndex(":"), e);
            ps.get(clusterKey).set(new NDIndex(":"), n);
        }
    }

    /** @return codebook size K (real rows) */
    public int size() {
        return size;
    }

    /**
     * @return fraction of codes whose EMA count was below the restart threshold (official: 1) after the last training-mode EMA
     *     update (before restarts): the codes that were re-seeded, or would be with restarts on
     */
    public double lastDeadFraction() {
        return lastDeadFraction;
    }

    /** @return the key of the weight tensor */
    public String weightKey() {
        return weightKey;
    }

    /** @return the weight [K+1, C] (row K is the padding row) */
    public NDArray weight() {
        return ps.get(weightKey);
    }

    /**
     * Squared distances to the K real codes: ‖x‖² + ‖e‖² − 2 x·e, in float32. In a bfloat16 model
     * as one {@code addmm} ({@link Kernels#squaredDistances}, the official code's form; {@code
     * -Drq.quantizer.fused_distances=false}, read per call, keeps the separate operators), in a
     * float32 model as separate operators, so that float32 results stay the same bits as before
     * (the two forms agree bit for bit on GEMMs that libtorch hands to MKL, not on every shape).
     *
     * @param x [N, C]
     * @return [N, K]
     */
    NDArray distances(NDArray x) {
        NDArray e = weight().get(x.getManager(), new NDIndex("0:" + size)); // [K, C]
        if (ps.precision() == Precision.BF16 && Switches.on("rq.quantizer.fused_distances")) {
            return Kernels.squaredDistances(x, e);
        }
        NDArray xsq = x.square().sum(new int[] {1}, true); // [N, 1]
        NDArray esq = e.square().sum(new int[] {1}).reshape(1, size); // [1, K]
        return xsq.add(esq).sub(x.matMul(e.transpose()).mul(2f)); // [N, K]
    }

    /**
     * Nearest codes of x (first minimum on ties).
     *
     * @param x [N, C]
     * @return [N] int64
     */
    public NDArray nearest(NDArray x) {
        return Kernels.argminRows(distances(x));
    }

    /**
     * Looks up code vectors.
     *
     * @param idx [...] int64 in [0, K] (K is the zero padding row)
     * @return [..., C]
     */
    public NDArray embed(NDArray idx) {
        Shape s = idx.getShape();
        NDArray flat = weight().get(idx.getManager(), new NDIndex("{}", idx.flatten())); // [N, C]
        return flat.reshape(s.addAll(new Shape(dim)));
    }

    /**
     * One codebook call (spec §2.3): nearest codes with the current weight; in training also the
     * EMA update, restart and weight refresh — the returned vectors use the pre-update weight.
     *
     * <p>{@code xs} are this rank's micro-batches (in global order). Each is searched on its own
     * and contributes its own counts and sums, which are added in a pairwise tree over the
     * micro-batches ({@link TreeSum}) and then over ranks, so the update is the same bits for
     * every way of sharing the micro-batches among ranks whose shares are subtrees (N = 1, 2).
     *
     * @param xs per micro-batch [n, C] detached inputs
     * @return per micro-batch (embeds [n, C], idx [n]) and the call's global assignment counts [K]
     *     (float; null in eval mode)
     */
    Lookups lookup(List<NDArray> xs, boolean training, Collective collective, Rng rng) {
        List<Lookup> parts = new ArrayList<>(xs.size());
        List<NDArray> counts = new ArrayList<>(xs.size());
        List<NDArray> sums = new ArrayList<>(xs.size());
        for (NDArray x : xs) {
            NDArray idx = nearest(x);
            parts.add(new Lookup(embed(idx), idx));
            if (training) {
                NDArray oneHot = idx.oneHot(size); // [n, K]
                counts.add(oneHot.sum(new int[] {0})); // [K]
                sums.add(oneHot.transpose().matMul(x)); // [K, C]
            }
        }
        NDArray global = null;
        if (training) {
            global = updateBuffers(xs, TreeSum.of(counts), TreeSum.of(sums), collective, rng);
            refreshWeight();
        }
        return new Lookups(parts, global);
    }

    /** The result of one lookup of one micro-batch. */
    record Lookup(NDArray embeds, NDArray idx) {}

    /** The result of one lookup: per micro-batch parts, global counts [K] (training only). */
    record Lookups(List<Lookup> parts, NDArray counts) {}

    private NDArray updateBuffers(List<NDArray> xs, NDArray counts, NDArray sums, Collective collective, Rng rng) {
        NDManager m = xs.get(0).getManager();
        if (collective.worldSize() > 1) {
            float[] host = new float[size * (dim + 1)];
            System.arraycopy(counts.toFloatArray(), 0, host, 0, size);
            System.arraycopy(sums.toFloatArray(), 0, host, size, size * dim);
            collective.allReduceSum(host);
            float[] c = new float[size];
            float[] s = new float[size * dim];
            System.arraycopy(host, 0, c, 0, size);
            System.arraycopy(host, size, s, 0, size * dim);
            counts = Tensors.of(m, c);
            sums = Tensors.of(m, s, new Shape(size, dim));
        }
        NDArray clusterEma = ps.get(clusterKey);
        NDArray embedEma = ps.get(embedKey);
        clusterEma.muli((float) decay).addi(counts.mul((float) (1 - decay)));
        embedEma.muli((float) decay).addi(sums.mul((float) (1 - decay)));
        float[] cluster = clusterEma.toFloatArray();
        int dead = 0;
        for (float c : cluster) {
            dead += c < restartThreshold ? 1 : 0;
        }
        lastDeadFraction = dead / (double) size;
        if (restartUnused && dead > 0) {
            restart(xs, cluster, clusterEma, embedEma, collective, rng);
        }
        return counts;
    }

    /**
     * Restart of unused codes (spec §2.5): codes whose EMA count is below 1 (the official rule; {@code
     * restart_threshold} otherwise) are re-seeded, with EMA count 1, from a
     * random pool of this call's input vectors (over all ranks, in rank order), tiled with uniform
     * noise U[0,1)·0.01/√C when there are fewer vectors than codes. The pool row for code k is row
     * {@code perm[k]} of a seeded random permutation, as in the official code; nothing is drawn
     * when no code is unused.
     */
    private void restart(List<NDArray> xs, float[] cluster, NDArray clusterEma, NDArray embedEma,
            Collective collective, Rng rng) {
        List<Integer> dead = new ArrayList<>();
        for (int k = 0; k < size; k++) {
            if (cluster[k] < restartThreshold) {
                dead.add(k);
            }
        }
        float[] pool = gather(xs, collective); // [Ntot, C] row-major
        int n = pool.length / dim;
        boolean tiled = n < size;
        int reps = tiled ? (size + n - 1) / n : 1;
        int poolRows = n * reps;
        // first K entries of a random permutation of the pool rows (partial Fisher–Yates)
        int[] perm = new int[poolRows];
        for (int i = 0; i < poolRows; i++) {
            perm[i] = i;
        }
        int keep = Math.min(size, poolRows);
        for (int i = 0; i < keep; i++) {
            int j = i + rng.nextInt(poolRows - i);
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        float noiseScale = (float) (0.01 / Math.sqrt(dim));
        float[] rows = new float[dead.size() * dim];
        float[] ones = new float[dead.size()];
        long[] deadIdx = new long[dead.size()];
        for (int i = 0; i < dead.size(); i++) {
            int k = dead.get(i);
            int src = perm[k] % n;
            for (int c = 0; c < dim; c++) {
                float v = pool[src * dim + c];
                rows[i * dim + c] = tiled ? v + rng.nextFloat() * noiseScale : v;
            }
            ones[i] = 1f;
            deadIdx[i] = k;
        }
        NDManager m = xs.get(0).getManager();
        NDArray where = Tensors.of(m, deadIdx);
        embedEma.set(new NDIndex("{}", where), Tensors.of(m, rows, new Shape(dead.size(), dim)));
        clusterEma.set(new NDIndex("{}", where), Tensors.of(m, ones));
    }

    private float[] gather(List<NDArray> xs, Collective collective) {
        float[] local = new float[xs.stream().mapToInt(x -> Math.toIntExact(x.size())).sum()];
        int at = 0;
        for (NDArray x : xs) {
            float[] part = x.toFloatArray();
            System.arraycopy(part, 0, local, at, part.length);
            at += part.length;
        }
        if (collective.worldSize() == 1) {
            return local;
        }
        ByteBuffer bb = ByteBuffer.allocate(local.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        bb.asFloatBuffer().put(local);
        List<byte[]> parts = collective.allGather(bb.array());
        int total = parts.stream().mapToInt(p -> p.length / 4).sum();
        float[] all = new float[total];
        int off = 0;
        for (byte[] p : parts) {
            ByteBuffer.wrap(p).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(all, off, p.length / 4);
            off += p.length / 4;
        }
        return all;
    }

    /** weight[k] = embed_ema[k] / Ñ_k with Ñ = n·(cluster_ema + ε)/(n + K·ε) (spec §2.6). */
    private void refreshWeight() {
        NDArray cluster = ps.get(clusterKey);
        NDArray n = cluster.sum();
        NDArray smoothed = cluster.add((float) eps).div(n.add((float) (size * eps))).mul(n); // [K]
        NDArray w = ps.get(embedKey).div(smoothed.reshape(size, 1)); // [K, C]
        ps.get(weightKey).set(new NDIndex("0:" + size), w);
    }

    /** @return true if {@code d} is float32 */
    static boolean isFloat(NDArray a) {
        return a.getDataType() == DataType.FLOAT32;
    }
}
