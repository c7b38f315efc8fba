package dev.rq.data.loader;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.CompletableFuture;

/**
 * One rank's reading of an {@link EpochPlan} over a {@link BlockSource}: the rows of each of its
 * batch slices and the blocks that hold them, read window by window.
 *
 * <p>Windows of the rank's partitions are pinned in the order of the step that first reads them
 * ({@link #open}) and released after the step that last reads them ({@link #done}); each
 * partition may also have its next window read ahead while the cache holds less than its budget.
 * So a rank reads only its partitions' blocks, each about once per epoch (blocks cut by a
 * partition boundary: once per partition), and holds at most its current windows plus one
 * read-ahead window per partition plus reused blocks up to the budget.
 *
 * <p>{@link #open} must be called with non-decreasing cursors, {@link #done} likewise.
 *
 * @param <T> a block's rows
 */
public final class BlockStream<T> implements AutoCloseable {

    /**
     * Rank {@code rank}'s rows of one global batch.
     *
     * @param cursor the batch
     * @param indices global row indices, {@code B/N} of them
     * @param blocks the block of each row (read in the background)
     * @param rows each row's position within its block
     */
    public record Slice<T>(Cursor cursor, long[] indices, List<CompletableFuture<T>> blocks, int[] rows) {

        /** @return the block of row {@code j}, waiting for it to be read */
        public T block(int j) {
            return BlockCache.join(blocks.get(j));
        }
    }

    private record Held(EpochPlan.Window window, long first, long last) {}

    private final EpochPlan plan;
    private final BlockCache<T> cache;
    private final int rank;
    private final int worldSize;
    private final int k;
    private final long steps;
    private final int endEpoch;
    private final PriorityQueue<Held> pending = new PriorityQueue<>(
            Comparator.comparingLong(Held::first).thenComparingInt(h -> h.window().partition()));
    private final PriorityQueue<Held> held = new PriorityQueue<>(Comparator.comparingLong(Held::last));
    private final long[] latestFirst; // per partition: first step of its latest pinned window
    private final int firstPartition;
    private long required = -1;

    /**
     * @param source the table
     * @param plan the sample order
     * @param rank this rank
     * @param worldSize N (divides the plan's partitions)
     * @param cacheBytes block budget of this rank
     * @param readThreads I/O threads
     * @param start first batch that will be opened
     * @param endEpoch no window of this epoch or later is read
     */
    public BlockStream(BlockSource<T> source, EpochPlan plan, int rank, int worldSize, long cacheBytes,
            int readThreads, Cursor start, int endEpoch) {
        this.plan = plan;
        this.rank = rank;
        this.worldSize = worldSize;
        this.k = plan.perPartition();
        this.steps = plan.stepsPerEpoch();
        this.endEpoch = endEpoch;
        int globalBatch = plan.globalBatch();
        if (steps == 0) {
            throw new IllegalArgumentException("a global batch of " + globalBatch + " needs at least " + globalBatch
                    + " rows (" + k + " in each of " + plan.partitions() + " partitions), the table has "
                    + plan.blocks().numRows());
        }
        if (start.step() >= steps) {
            throw new IllegalArgumentException("cursor step " + start.step() + " >= " + steps + " steps per epoch");
        }
        int[] parts = plan.partitionsOf(rank, worldSize);
        this.firstPartition = parts[0];
        this.latestFirst = new long[parts.length];
        this.cache = new BlockCache<>(source, cacheBytes, readThreads);
        if (start.epoch() < endEpoch) {
            for (int p : parts) {
                EpochPlan.PartitionOrder o = plan.order(start.epoch(), p);
                enqueue(o.window(o.windowOf(start.step() * k)));
            }
        }
    }

    /** @return global batches per epoch */
    public long stepsPerEpoch() {
        return steps;
    }

    /** @return the plan */
    public EpochPlan plan() {
        return plan;
    }

    private long global(Cursor c) {
        return c.epoch() * steps + c.step();
    }

    private void enqueue(EpochPlan.Window w) {
        long base = (long) w.epoch() * steps;
        pending.add(new Held(w, base + w.firstStep(k), base + w.lastStep(k)));
    }

    /** Queues the window after {@code w} of the same partition, if it is read before {@code endEpoch}. */
    private void enqueueNext(EpochPlan.Window w) {
        EpochPlan.PartitionOrder o = plan.order(w.epoch(), w.partition());
        if (w.index() + 1 < o.windows()) {
            enqueue(o.window(w.index() + 1));
        } else if (w.epoch() + 1 < endEpoch) {
            enqueue(plan.order(w.epoch() + 1, w.partition()).window(0));
        }
    }

    private void pin(Held h) {
        for (int b : h.window().blocks()) {
            cache.pin(b);
        }
        held.add(h);
        latestFirst[h.window().partition() - firstPartition] = h.first();
        enqueueNext(h.window());
    }

    /**
     * Rank's rows of batch {@code c}: pins every window read up to {@code c}, then reads ahead.
     */
    public synchronized Slice<T> open(Cursor c) {
        long g = global(c);
        if (g < required) {
            throw new IllegalStateException("batches must be opened in order: " + c + " after step " + required);
        }
        required = g;
        while (!pending.isEmpty() && pending.peek().first() <= g) {
            pin(pending.poll());
        }
        readAhead();
        long[] idx = plan.slice(c.epoch(), c.step(), rank, worldSize);
        List<CompletableFuture<T>> blocks = new ArrayList<>(idx.length);
        int[] rows = new int[idx.length];
        BlockIndex bi = plan.blocks();
        for (int j = 0; j < idx.length; j++) {
            int b = bi.blockOf(idx[j]);
            blocks.add(cache.pinned(b));
            rows[j] = (int) (idx[j] - bi.start(b));
        }
        return new Slice<>(c, idx, blocks, rows);
    }

    /** Pins the next window of partitions that have none ahead, while the budget allows. */
    private void readAhead() {
        List<Held> skipped = new ArrayList<>();
        while (!pending.isEmpty()) {
            Held h = pending.peek();
            if (latestFirst[h.window().partition() - firstPartition] > required) {
                skipped.add(pending.poll()); // this partition already has a window ahead
                continue;
            }
            if (cache.pinnedBytes() + cache.cost(h.window().blocks()) > cache.budget()) {
                break;
            }
            pin(pending.poll());
        }
        pending.addAll(skipped);
    }

    /** Releases the windows whose last step is {@code c} or earlier. */
    public synchronized void done(Cursor c) {
        long g = global(c);
        while (!held.isEmpty() && held.peek().last() <= g) {
            for (int b : held.poll().window().blocks()) {
                cache.unpin(b);
            }
        }
    }

    /**
     * Rank's rows of any batch, outside the window schedule: pins exactly their blocks; call
     * {@link #release} after use.
     */
    public Slice<T> readUnscheduled(Cursor c) {
        long[] idx = plan.slice(c.epoch(), c.step(), rank, worldSize);
        List<CompletableFuture<T>> blocks = new ArrayList<>(idx.length);
        int[] rows = new int[idx.length];
        BlockIndex bi = plan.blocks();
        for (int j = 0; j < idx.length; j++) {
            int b = bi.blockOf(idx[j]);
            blocks.add(cache.pin(b));
            rows[j] = (int) (idx[j] - bi.start(b));
        }
        return new Slice<>(c, idx, blocks, rows);
    }

    /** Unpins the blocks of a {@link #readUnscheduled} slice. */
    public void release(Slice<T> s) {
        BlockIndex bi = plan.blocks();
        for (long i : s.indices()) {
            cache.unpin(bi.blockOf(i));
        }
    }

    /** @return blocks read from storage so far */
    public long blockReads() {
        return cache.reads();
    }

    /** @return bytes read from storage so far (Hadoop FileSystem statistics of the reading threads) */
    public long bytesRead() {
        return cache.bytesRead();
    }

    /** @return the most block bytes held at once */
    public long peakCacheBytes() {
        return cache.peak();
    }

    @Override
    public void close() {
        cache.close();
    }
}
