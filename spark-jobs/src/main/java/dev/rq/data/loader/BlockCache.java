package dev.rq.data.loader;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.hadoop.fs.FileSystem;

/**
 * One rank's blocks in memory: read on a pool of I/O threads, pinned while a shuffle window that
 * needs them is in use, and kept afterwards (least recently used first out) while the total stays
 * within {@code budget} bytes. Pinned blocks are never evicted, so the budget is exceeded only when
 * the pinned windows alone are larger (the stages check this before training).
 *
 * <p>Bytes read are taken from the Hadoop {@link FileSystem.Statistics} of the reading threads, so
 * they count what this cache read even when several ranks share a JVM.
 *
 * @param <T> a block's rows
 */
final class BlockCache<T> implements AutoCloseable {

    private final BlockSource<T> source;
    private final long budget;
    private final ExecutorService io;
    private final LinkedHashMap<Integer, Entry<T>> entries = new LinkedHashMap<>(16, 0.75f, true);
    private long resident;
    private long pinnedBytes;
    private long peak;
    private long reads;
    private long bytesRead;

    private static final class Entry<T> {
        final CompletableFuture<T> future = new CompletableFuture<>();
        int pins;
        long bytes;
    }

    /**
     * @param source the table
     * @param budget bytes of blocks to keep at most (pinned blocks excepted)
     * @param threads I/O threads
     */
    BlockCache(BlockSource<T> source, long budget, int threads) {
        this.source = source;
        this.budget = budget;
        AtomicInteger id = new AtomicInteger();
        this.io = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "rq-block-reader-" + id.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    BlockSource<T> source() {
        return source;
    }

    long budget() {
        return budget;
    }

    /** Pins a block (reading it in the background if absent) and returns it. */
    synchronized CompletableFuture<T> pin(int block) {
        Entry<T> e = entries.get(block);
        if (e == null) {
            e = new Entry<>();
            e.bytes = source.index().heapBytes(block);
            entries.put(block, e);
            resident += e.bytes;
            Entry<T> load = e;
            io.execute(() -> load(block, load));
        }
        if (e.pins++ == 0) {
            pinnedBytes += e.bytes;
        }
        evict(); // make room: drop kept blocks before the new one arrives
        peak = Math.max(peak, resident);
        return e.future;
    }

    /** @return a block that is pinned now */
    synchronized CompletableFuture<T> pinned(int block) {
        Entry<T> e = entries.get(block);
        if (e == null || e.pins == 0) {
            throw new IllegalStateException("block " + block + " is not pinned");
        }
        return e.future;
    }

    /** Releases one pin of a block. */
    synchronized void unpin(int block) {
        Entry<T> e = entries.get(block);
        if (e == null || e.pins == 0) {
            throw new IllegalStateException("block " + block + " is not pinned");
        }
        if (--e.pins == 0) {
            pinnedBytes -= e.bytes;
        }
        evict();
    }

    /** @return bytes that pinning {@code blocks} would add to the pinned bytes */
    synchronized long cost(int[] blocks) {
        long c = 0;
        for (int b : blocks) {
            Entry<T> e = entries.get(b);
            if (e == null) {
                c += source.index().heapBytes(b);
            } else if (e.pins == 0) {
                c += e.bytes;
            }
        }
        return c;
    }

    /** @return bytes of pinned blocks (estimates for blocks still being read) */
    synchronized long pinnedBytes() {
        return pinnedBytes;
    }

    /** @return bytes held now (estimates for blocks still being read) */
    synchronized long resident() {
        return resident;
    }

    /** @return the largest {@link #resident()} so far */
    synchronized long peak() {
        return peak;
    }

    /** @return blocks read from storage */
    synchronized long reads() {
        return reads;
    }

    /** @return bytes read from storage (Hadoop FileSystem statistics of the I/O threads) */
    synchronized long bytesRead() {
        return bytesRead;
    }

    /** Waits for a pinned block. */
    static <T> T join(CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof IOException io) {
                throw new UncheckedIOException(io);
            }
            throw e.getCause() instanceof RuntimeException re ? re : e;
        }
    }

    private void load(int block, Entry<T> e) {
        long before = threadBytesRead();
        try {
            T t = source.read(block);
            long got = source.heapBytes(t);
            synchronized (this) {
                reads++;
                bytesRead += threadBytesRead() - before;
                resident += got - e.bytes;
                if (e.pins > 0) {
                    pinnedBytes += got - e.bytes;
                }
                e.bytes = got;
                peak = Math.max(peak, resident);
            }
            e.future.complete(t);
        } catch (IOException | RuntimeException | Error ex) {
            synchronized (this) {
                bytesRead += threadBytesRead() - before;
            }
            e.future.completeExceptionally(ex);
        }
        synchronized (this) {
            evict();
        }
    }

    /** Drops unpinned, loaded blocks, least recently pinned first, while over budget. */
    private void evict() {
        Iterator<Map.Entry<Integer, Entry<T>>> it = entries.entrySet().iterator();
        while (resident > budget && it.hasNext()) {
            Entry<T> e = it.next().getValue();
            if (e.pins == 0 && e.future.isDone()) {
                resident -= e.bytes;
                it.remove();
            }
        }
    }

    /** Bytes read by this thread from every Hadoop file system. */
    @SuppressWarnings("deprecation")
    static long threadBytesRead() {
        long s = 0;
        for (FileSystem.Statistics st : FileSystem.getAllStatistics()) {
            s += st.getThreadStatistics().getBytesRead();
        }
        return s;
    }

    @Override
    public void close() {
        io.shutdownNow();
    }
}
