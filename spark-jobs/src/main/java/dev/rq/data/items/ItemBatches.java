package dev.rq.data.items;

import dev.rq.data.loader.Cursor;
import dev.rq.model.util.Rng;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * One rank's slices of the global training batches over a {@link PreparedItems} table, streamed
 * with a windowed block shuffle (as MosaicML Streaming's {@code py1b}): memory is bounded by the
 * window, not the table.
 *
 * <pre>
 * epoch e:  row groups in the order of a permutation seeded by (seed, e); consecutive windows of W
 *           row groups; the rows of window w shuffled by a permutation seeded by (seed, e, w);
 *           the epoch order is the windows' shuffled rows, window after window
 * batch b:  positions [b·B, (b+1)·B) of the epoch order (n / B batches, the partial last one dropped)
 * rank r:   positions [b·B + r·B/N, b·B + (r+1)·B/N)
 * </pre>
 *
 * Every batch is a pure function of (table, seed, W, cursor, rank, N), and the ranks' slices
 * concatenated in rank order are the one-rank batch, so training is N-independent. A batch spans at
 * most two windows; the reader keeps the row groups of the last two windows (LRU) and prepares
 * the next batch on a background thread.
 */
public final class ItemBatches implements AutoCloseable {

    private final PreparedItems items;
    private final int globalBatch;
    private final int rank;
    private final int worldSize;
    private final long seed;
    private final int window;
    private final long stepsPerEpoch;
    private final int dim;
    private final Map<Integer, float[]> groups;
    private final ExecutorService pool;
    private Epoch epoch;
    private Cursor cursor;
    private CompletableFuture<ItemBatch> ahead;

    /**
     * One rank's slice of a global batch.
     *
     * @param cursor position of this batch
     * @param next position of the batch after it (save with a checkpoint to resume after this batch)
     * @param indices global row indices, length B/N
     * @param x embeddings [B/N, dim] row-major
     */
    public record ItemBatch(Cursor cursor, Cursor next, long[] indices, float[] x) {}

    private ItemBatches(PreparedItems items, int globalBatch, int rank, int worldSize, long seed, int window,
            Cursor start) {
        if (globalBatch <= 0 || worldSize <= 0 || globalBatch % worldSize != 0) {
            throw new IllegalArgumentException("global batch " + globalBatch + " must be a positive multiple of the "
                    + worldSize + " ranks");
        }
        if (rank < 0 || rank >= worldSize || window < 1) {
            throw new IllegalArgumentException("rank " + rank + " of " + worldSize + ", window " + window);
        }
        this.items = items;
        this.globalBatch = globalBatch;
        this.rank = rank;
        this.worldSize = worldSize;
        this.seed = seed;
        this.window = window;
        this.dim = items.dim();
        this.stepsPerEpoch = items.numRows() / globalBatch;
        if (stepsPerEpoch == 0) {
            throw new IllegalArgumentException("global batch " + globalBatch + " > " + items.numRows() + " items");
        }
        if (start.step() >= stepsPerEpoch) {
            throw new IllegalArgumentException("cursor step " + start.step() + " >= " + stepsPerEpoch
                    + " steps per epoch");
        }
        this.cursor = start;
        int keep = 2 * window + 1;
        this.groups = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Integer, float[]> e) {
                return size() > keep;
            }
        };
        this.pool = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "rq-item-batches");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * @param items the prepared table
     * @param globalBatch B, items per global batch
     * @param window W, row groups shuffled together
     * @param start the first batch's position
     */
    public static ItemBatches open(PreparedItems items, int globalBatch, int rank, int worldSize, long seed,
            int window, Cursor start) {
        return new ItemBatches(items, globalBatch, rank, worldSize, seed, window, start);
    }

    /** @return global batches per epoch */
    public long stepsPerEpoch() {
        return stepsPerEpoch;
    }

    /** @return the position of the batch {@link #next()} returns */
    public Cursor cursor() {
        return cursor;
    }

    /** @return this rank's slice of the next global batch */
    public ItemBatch next() {
        CompletableFuture<ItemBatch> f = ahead != null ? ahead : CompletableFuture.completedFuture(read(cursor));
        ItemBatch b;
        try {
            b = f.join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof RuntimeException re ? re : e;
        }
        cursor = b.next();
        Cursor following = cursor;
        ahead = CompletableFuture.supplyAsync(() -> read(following), pool);
        return b;
    }

    private synchronized ItemBatch read(Cursor c) {
        if (epoch == null || epoch.number != c.epoch()) {
            epoch = new Epoch(c.epoch());
        }
        int per = globalBatch / worldSize;
        long start = c.step() * globalBatch + (long) rank * per;
        long[] idx = new long[per];
        float[] x = new float[per * dim];
        for (int i = 0; i < per; i++) {
            long row = epoch.row(start + i);
            idx[i] = row;
            int g = items.groupOf(row);
            float[] data = group(g);
            System.arraycopy(data, (int) (row - items.groupStart(g)) * dim, x, i * dim, dim);
        }
        return new ItemBatch(c, c.next(stepsPerEpoch), idx, x);
    }

    private float[] group(int g) {
        float[] data = groups.get(g);
        if (data == null) {
            try {
                data = items.readGroup(g);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            groups.put(g, data);
        }
        return data;
    }

    /** The order of one epoch, materialised one window at a time. */
    private final class Epoch {
        final int number;
        final int[] blocks; // row groups in epoch order
        final long[] windowStart; // first epoch position of each window; length windows + 1
        int cachedWindow = -1;
        long[] cachedRows; // global rows of the cached window in shuffled order

        Epoch(int number) {
            this.number = number;
            this.blocks = Rng.of(seed, 0x17e, number).permutation(items.numGroups());
            int windows = (blocks.length + window - 1) / window;
            this.windowStart = new long[windows + 1];
            for (int w = 0; w < windows; w++) {
                long rows = 0;
                for (int j = w * window; j < Math.min(blocks.length, (w + 1) * window); j++) {
                    rows += items.groupRows(blocks[j]);
                }
                windowStart[w + 1] = windowStart[w] + rows;
            }
        }

        long row(long position) {
            int w = java.util.Arrays.binarySearch(windowStart, position);
            w = w >= 0 ? w : -w - 2;
            if (w != cachedWindow) {
                int n = (int) (windowStart[w + 1] - windowStart[w]);
                long[] rows = new long[n];
                int k = 0;
                for (int j = w * window; j < Math.min(blocks.length, (w + 1) * window); j++) {
                    long first = items.groupStart(blocks[j]);
                    for (int r = 0; r < items.groupRows(blocks[j]); r++) {
                        rows[k++] = first + r;
                    }
                }
                int[] perm = Rng.of(seed, 0x17e, number, w).permutation(n);
                cachedRows = new long[n];
                for (int i = 0; i < n; i++) {
                    cachedRows[i] = rows[perm[i]];
                }
                cachedWindow = w;
            }
            return cachedRows[(int) (position - windowStart[w])];
        }
    }

    @Override
    public void close() {
        pool.shutdownNow();
    }
}
