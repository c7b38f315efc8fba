package dev.rq.model.config;

import java.io.Serializable;

/**
 * How training samples (images for stage 1, token rows for stage 2) are read, shuffled and
 * augmented. The streaming loader's design and the memory formula are in {@code docs/data.md}.
 *
 * <p>The sample order depends on {@code partitions} and {@code shuffle_window} (and the seed),
 * never on the number of workers; {@code cache_mb}, {@code read_threads} and {@code
 * decode_threads} change only speed and memory.
 *
 * @param randomCrop random crop (training) instead of a center crop
 * @param hflip random horizontal flip with probability 0.5 (with {@code random_crop})
 * @param decodeThreads background decode/augment threads per worker
 * @param imageColumn image column of the dataset (struct{bytes,path} or binary)
 * @param labelColumn label column of the dataset
 * @param partitions canonical partitions C of the sample order: every worker count N must divide
 *     it and it must divide the images per accumulation step ({@code batch_size /
 *     grad_accum_steps}); 0 (default) = {@code gcd(batch_size / grad_accum_steps, 8)}
 * @param shuffleWindow samples of one partition shuffled together in memory (default 1024)
 * @param cacheMb per-worker memory for storage blocks (Parquet row groups) in MiB: the shuffle
 *     windows being read, read-ahead and blocks kept for reuse (default 2048)
 * @param readThreads per-worker threads reading blocks from storage (default 2)
 */
public record DataConfig(
        Boolean randomCrop, Boolean hflip, Integer decodeThreads, String imageColumn, String labelColumn,
        Integer partitions, Integer shuffleWindow, Integer cacheMb, Integer readThreads) implements Serializable {

    /** Partitions when {@code partitions} is 0: the largest divisor of the accumulation batch up to this. */
    public static final int AUTO_PARTITIONS_MAX = 8;

    private static final String P = "data.";

    public DataConfig {
        randomCrop = randomCrop == null || randomCrop;
        hflip = hflip == null || hflip;
        decodeThreads = decodeThreads == null ? 2 : decodeThreads;
        imageColumn = imageColumn == null ? "image" : imageColumn;
        labelColumn = labelColumn == null ? "label" : labelColumn;
        partitions = partitions == null ? 0 : partitions;
        shuffleWindow = shuffleWindow == null ? 1024 : shuffleWindow;
        cacheMb = cacheMb == null ? 2048 : cacheMb;
        readThreads = readThreads == null ? 2 : readThreads;
        ConfigException.require(decodeThreads > 0, P + "decode_threads", "must be positive, got %s", decodeThreads);
        ConfigException.require(partitions >= 0, P + "partitions", "must be >= 0 (0 = automatic), got %s",
                partitions);
        ConfigException.require(shuffleWindow > 0, P + "shuffle_window", "must be positive, got %s", shuffleWindow);
        ConfigException.require(cacheMb > 0, P + "cache_mb", "must be positive, got %s", cacheMb);
        ConfigException.require(readThreads > 0, P + "read_threads", "must be positive, got %s", readThreads);
    }

    /** @return the default data settings */
    public static DataConfig defaults() {
        return new DataConfig(null, null, null, null, null, null, null, null, null);
    }

    /**
     * The canonical partitions C for a loader batch of {@code batch} samples (the images of one
     * accumulation step, summed over workers).
     *
     * @throws ConfigException naming {@code data.partitions} when C does not divide the batch
     */
    public int partitionsFor(int batch) {
        int c = partitions == 0 ? gcd(batch, AUTO_PARTITIONS_MAX) : partitions;
        ConfigException.require(batch % c == 0, P + "partitions",
                "must divide the %s samples of an accumulation step (batch_size / grad_accum_steps), got %s",
                batch, c);
        return c;
    }

    /**
     * Checks that {@code workers} ranks can share the partitions equally.
     *
     * @throws ConfigException naming {@code data.partitions} and both numbers otherwise
     */
    public void checkWorkers(int batch, int workers) {
        int c = partitionsFor(batch);
        ConfigException.require(c % workers == 0, P + "partitions",
                "--workers %s does not divide the %s canonical partitions; use a worker count that divides %s or set"
                        + " data.partitions to a multiple of %s that divides %s", workers, c, c, workers, batch);
    }

    /** @return {@link #cacheMb} in bytes */
    public long cacheBytes() {
        return (long) cacheMb << 20;
    }

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }
}
