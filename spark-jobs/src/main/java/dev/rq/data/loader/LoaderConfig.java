package dev.rq.data.loader;

import dev.rq.model.config.ConfigException;
import dev.rq.model.config.DataConfig;
import java.io.Serializable;
import java.util.Locale;

/**
 * The loader settings of a run: its {@code data.*} keys resolved for the loader batch (the samples
 * of one accumulation step, summed over workers), and the checks that must pass before any
 * cluster work.
 *
 * @param batch global loader batch B
 * @param partitions canonical partitions C (divides B)
 * @param window rows of a partition shuffled together W
 * @param cacheBytes block cache budget per worker
 * @param readThreads block-reading threads per worker
 * @param decodeThreads decode threads per worker (images)
 */
public record LoaderConfig(int batch, int partitions, int window, long cacheBytes, int readThreads,
        int decodeThreads) implements Serializable {

    /**
     * @param d the run's data section
     * @param batch samples per accumulation step over all workers
     * @throws ConfigException when {@code data.partitions} does not divide {@code batch}
     */
    public static LoaderConfig of(DataConfig d, int batch) {
        return new LoaderConfig(batch, d.partitionsFor(batch), d.shuffleWindow(), d.cacheBytes(), d.readThreads(),
                d.decodeThreads());
    }

    /** @return the sample order over a table's blocks */
    public EpochPlan plan(BlockIndex blocks, long seed) {
        return new EpochPlan(blocks, batch, partitions, window, seed, true);
    }

    /**
     * Checks that {@code workers} ranks can read {@code table} with these settings: N divides C,
     * the table holds one batch, and one worker's shuffle windows fit its cache.
     *
     * @param what the table, for messages
     * @throws ConfigException naming the key to change
     * @throws IllegalArgumentException when the table is empty
     */
    public void check(BlockIndex blocks, int workers, String what) {
        if (blocks.numRows() == 0) {
            throw new IllegalArgumentException(what + " is empty: no rows to train on");
        }
        ConfigException.require(partitions % workers == 0, "data.partitions",
                "--workers %s does not divide the %s canonical partitions; use a worker count that divides %s or set"
                        + " data.partitions to a multiple of %s that divides %s", workers, partitions, partitions,
                workers, batch);
        ConfigException.require(blocks.numRows() / partitions >= batch / partitions, "train.batch_size",
                "%s has %s rows, fewer than one batch of %s (%s rows in each of %s partitions)", what,
                blocks.numRows(), batch, batch / partitions, partitions);
        long need = workingSet(blocks, workers);
        if (need > cacheBytes) {
            throw new ConfigException("data.cache_mb", String.format(Locale.ROOT,
                    "%d MiB cannot hold one worker's shuffle windows over %s: about %d partitions per worker x"
                            + " (data.shuffle_window %d + rows in flight + 2 row groups of up to %d rows) x %.0f"
                            + " bytes per row = %d MiB; raise data.cache_mb, lower data.shuffle_window, use more"
                            + " workers or ingest with smaller row groups", cacheBytes >> 20, what,
                    partitions / workers, window, blocks.maxRows(), blocks.meanRowBytes(),
                    (need + (1 << 20) - 1) >> 20));
        }
    }

    /**
     * The bytes of blocks a worker holds at once, about: for each of its partitions one window
     * ({@code W} rows, at most the partition) plus the rows of the batches in flight ({@code 3·B/C}:
     * the batch in use and two prefetched; they reach into the next window part of the time) plus
     * the row groups cut at both ends; plus one more window for partitions that change windows at
     * the same time; never more than the whole table.
     */
    public long workingSet(BlockIndex blocks, int workers) {
        long w = Math.min(window, (blocks.numRows() + partitions - 1) / partitions);
        long inFlight = Math.min(w, 3L * (batch / partitions));
        long perPartition = w + inFlight + 2 * blocks.maxRows();
        double rows = (double) (partitions / workers) * perPartition + w + 2 * blocks.maxRows();
        return (long) Math.min(rows * blocks.meanRowBytes(), blocks.totalHeapBytes());
    }
}
