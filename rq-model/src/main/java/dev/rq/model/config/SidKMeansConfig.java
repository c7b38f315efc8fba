package dev.rq.model.config;

import java.io.Serializable;

/**
 * k-means settings of a semantic-ID run ({@code kmeans} section): the initialisation of every
 * level's codebook of the RQ-VAE, and the whole fit of the rq-kmeans method.
 *
 * <p>k-means runs on a deterministic sample of {@code sample_size} items (uniform without
 * replacement, seeded by {@code train.seed}; all items when there are fewer): k-means++ seeding,
 * then {@code iterations} Lloyd iterations per level, level d on the residuals left by levels
 * 0..d−1. The default sample is 256 points per centroid, as faiss caps it.
 *
 * @param init initialise the RQ-VAE's codebooks by k-means on the encoder outputs of the sample
 *     (false: random codes)
 * @param sampleSize items in the k-means sample (0 = 256 × the largest K)
 * @param iterations Lloyd iterations per level after k-means++ seeding
 * @param warmupSteps optimizer steps that train the encoder and decoder alone (the decoder reads the
 *     encoder output z, the codebooks are neither used nor changed) before the k-means
 *     initialisation; 0 initialises before step 1. The untrained encoder maps all items into a
 *     tiny neighbourhood (its latents vary far less than one Adam step moves them), so codebooks
 *     fitted there collapse to a few codes as soon as training moves the encoder
 */
public record SidKMeansConfig(Boolean init, Integer sampleSize, Integer iterations, Integer warmupSteps)
        implements Serializable {

    private static final String P = "kmeans.";

    public SidKMeansConfig {
        init = init == null || init;
        sampleSize = sampleSize == null ? 0 : sampleSize;
        iterations = iterations == null ? 20 : iterations;
        warmupSteps = warmupSteps == null ? 0 : warmupSteps;
        ConfigException.require(sampleSize >= 0, P + "sample_size", "must be >= 0, got %s", sampleSize);
        ConfigException.require(iterations > 0, P + "iterations", "must be positive, got %s", iterations);
        ConfigException.require(warmupSteps >= 0, P + "warmup_steps", "must be >= 0, got %s", warmupSteps);
    }

    /** @return the default settings */
    public static SidKMeansConfig defaults() {
        return new SidKMeansConfig(null, null, null, null);
    }

    /** @return the sample size for codebooks of at most {@code maxK} codes */
    public int sampleSizeFor(int maxK) {
        return sampleSize > 0 ? sampleSize : 256 * maxK;
    }
}
