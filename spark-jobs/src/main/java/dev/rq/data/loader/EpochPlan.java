package dev.rq.data.loader;

import java.util.SplittableRandom;

/**
 * The sample order and slicing rules of the loader; pure functions of their arguments.
 *
 * <ul>
 *   <li>Order of epoch {@code e}: a Fisher–Yates permutation of {@code [0, n)} driven by {@code
 *       SplittableRandom(mix(seed, e, -1))} (or the identity when not shuffling).
 *   <li>Global batch {@code b} of size {@code B}: positions {@code [b·B, (b+1)·B)} of the order;
 *       {@code n / B} batches per epoch (the incomplete last batch is dropped).
 *   <li>Rank {@code r} of {@code N} ({@code B % N == 0}): positions {@code [b·B + r·B/N, b·B +
 *       (r+1)·B/N)}. Concatenating the ranks' slices in rank order gives the single-worker batch.
 *   <li>Augmentation seed of a sample: {@code mix(seed, e, globalIndex)}, so augmentation does not
 *       depend on N either.
 * </ul>
 */
public final class EpochPlan {
    private EpochPlan() {}

    /** SplitMix64 finaliser. */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** Combines (seed, epoch, index) into one well-mixed 64-bit seed. */
    public static long mix(long seed, long epoch, long index) {
        long h = mix64(seed + 0x9e3779b97f4a7c15L);
        h = mix64(h ^ (epoch * 0xd1b54a32d192ed03L + 0x632be59bd9b4e019L));
        return mix64(h ^ (index * 0x8cb92ba72f3d8dd7L + 0x2545f4914f6cdd1dL));
    }

    /**
     * The global order of an epoch.
     *
     * @param n number of samples (< 2^31)
     * @param shuffle false for the identity order (evaluation)
     */
    public static int[] order(long seed, int epoch, int n, boolean shuffle) {
        int[] o = new int[n];
        for (int i = 0; i < n; i++) {
            o[i] = i;
        }
        if (shuffle) {
            SplittableRandom rnd = new SplittableRandom(mix(seed, epoch, -1));
            for (int i = n - 1; i > 0; i--) {
                int j = rnd.nextInt(i + 1);
                int t = o[i];
                o[i] = o[j];
                o[j] = t;
            }
        }
        return o;
    }

    /** Global batches per epoch ({@code n / B}, last partial batch dropped). */
    public static long stepsPerEpoch(long n, int globalBatch) {
        return n / globalBatch;
    }

    /**
     * The global sample indices of rank {@code rank}'s slice of batch {@code step}.
     *
     * @param order the epoch order
     */
    public static long[] slice(int[] order, long step, int globalBatch, int rank, int worldSize) {
        checkSlicing(globalBatch, rank, worldSize);
        int per = globalBatch / worldSize;
        long start = step * globalBatch + (long) rank * per;
        long[] idx = new long[per];
        for (int i = 0; i < per; i++) {
            idx[i] = order[(int) (start + i)];
        }
        return idx;
    }

    static void checkSlicing(int globalBatch, int rank, int worldSize) {
        if (globalBatch <= 0 || worldSize <= 0 || globalBatch % worldSize != 0) {
            throw new IllegalArgumentException("global batch " + globalBatch
                    + " must be a positive multiple of the worker count " + worldSize);
        }
        if (rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank " + rank + " not in [0, " + worldSize + ")");
        }
    }
}
