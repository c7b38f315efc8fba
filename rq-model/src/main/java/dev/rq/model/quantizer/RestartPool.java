package dev.rq.model.quantizer;

import ai.djl.ndarray.NDArray;
import dev.rq.model.distributed.Collective;
import dev.rq.model.util.Rng;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * Replacement vectors for dead codes (spec §2.5, as {@link VqCodebook}'s restart): a random pool
 * of one call's input vectors over all ranks (gathered in rank order, so N ranks draw what one
 * rank with the whole batch draws), tiled with uniform noise U[0,1)·0.01/√C when there are fewer
 * vectors than codes. The vector for code k is pool row {@code perm[k]} of a seeded random
 * permutation; the generator must be in the same state on every rank.
 */
final class RestartPool {

    private RestartPool() {}

    /**
     * @param x this rank's input vectors [n_r, C]
     * @param size codebook size K
     * @param dead codes to re-seed, ascending
     * @return [dead.length, C] row-major replacement vectors
     */
    static float[] draw(NDArray x, int size, int[] dead, Collective collective, Rng rng) {
        int dim = (int) x.getShape().get(1);
        float[] pool = gather(x, collective); // [Ntot, C] row-major
        int n = pool.length / dim;
        if (n == 0) {
            throw new IllegalStateException("cannot restart codes: no input vectors on any rank");
        }
        boolean tiled = n < size;
        int reps = tiled ? (size + n - 1) / n : 1;
        int poolRows = n * reps;
        int[] perm = new int[poolRows]; // first K entries of a random permutation (partial Fisher–Yates)
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
        float noise = (float) (0.01 / Math.sqrt(dim));
        float[] rows = new float[dead.length * dim];
        for (int i = 0; i < dead.length; i++) {
            int src = perm[dead[i]] % n;
            for (int c = 0; c < dim; c++) {
                float v = pool[src * dim + c];
                rows[i * dim + c] = tiled ? v + rng.nextFloat() * noise : v;
            }
        }
        return rows;
    }

    /** @return the vectors of all ranks, concatenated in rank order */
    static float[] gather(NDArray x, Collective collective) {
        float[] local = x.toFloatArray();
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
}
