package dev.rq.model.sid;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import dev.rq.model.distributed.Collective;
import dev.rq.model.quantizer.KMeans;
import dev.rq.model.util.Rng;
import java.util.ArrayList;
import java.util.List;

/**
 * k-means initialisation of an RQ-VAE's codebooks (TIGER §3.1: "k-means clustering-based
 * initialization"): the encoder, as initialised, maps the k-means sample to latents z; level 0's
 * codebook is fitted to z, level d's to the residuals {@code z − Σ_{j<d} e_j} left by the levels
 * already fitted (with a shared codebook, only level 0 is fitted). Each fit is {@link KMeans} over
 * the ranks' slices of the sample, so N ranks initialise exactly as one.
 *
 * <p>Each code's initial usage count is its share of the sample times the items one training
 * lookup sees, so that restarts do not immediately discard codes a first batch happens to miss.
 */
public final class SidInit {

    private SidInit() {}

    /**
     * Fits and sets every level.
     *
     * @param sample this rank's slice of the k-means sample, x [n_r, input_dim]
     * @param itemsPerCall global items per training lookup (the global micro-batch)
     * @param iterations Lloyd iterations per level
     * @param rng seeding draws, in the same state on every rank
     * @return per fitted level, the last Lloyd iteration (global counts and inertia)
     */
    public static List<KMeans.Iteration> kmeans(SidModel model, NDArray sample, int itemsPerCall, int iterations,
            Rng rng, Collective collective) {
        Levels levels = model.levels();
        List<KMeans.Iteration> out = new ArrayList<>();
        try (NDScope scope = new NDScope()) { // frees latents and residuals
            NDArray r = model.encode(sample).stopGradient(); // [n_r, C]
            int fitted = model.config().sharedCodebook() ? 1 : model.depth();
            for (int d = 0; d < fitted; d++) {
                int k = model.codebookSize(d);
                KMeans.Iteration it = KMeans.fit(r, k, iterations, rng, collective);
                double total = 0;
                for (double c : it.counts()) {
                    total += c;
                }
                float[] usage = new float[k];
                for (int j = 0; j < k; j++) {
                    usage[j] = (float) (it.counts()[j] / total * itemsPerCall);
                }
                levels.init(d, it.centroids(), usage);
                out.add(it);
                if (d + 1 < fitted) {
                    r = r.sub(levels.embed(d, levels.nearest(d, r)));
                }
            }
        }
        return out;
    }
}
