package dev.rq.data.loader;

import dev.rq.data.dataset.CanonicalDataset;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * Thread-safe random access to the encoded samples of a {@link CanonicalDataset}, reading whole
 * row groups and keeping them in an LRU cache bounded by {@code cacheBytes} (at least one row
 * group is always kept). Concurrent requests for the same row group share one read.
 *
 * <p>With a random global order every row group is touched by almost every batch, so datasets
 * that do not fit in the cache are re-read from storage many times per epoch; size the cache to
 * the split (small datasets) or to the node's memory (see docs/data.md).
 */
public final class SampleStore {
    private final CanonicalDataset dataset;
    private final long cacheBytes;
    private final LinkedHashMap<Long, CompletableFuture<CanonicalDataset.RowGroup>> cache =
            new LinkedHashMap<>(16, 0.75f, true);
    private final Map<Long, Long> sizes = new java.util.HashMap<>();
    private long used;
    private long reads;

    /**
     * @param dataset the split
     * @param cacheBytes row-group cache budget in bytes of encoded images
     */
    public SampleStore(CanonicalDataset dataset, long cacheBytes) {
        this.dataset = dataset;
        this.cacheBytes = cacheBytes;
    }

    public CanonicalDataset dataset() {
        return dataset;
    }

    /** Row groups read from storage so far. */
    public synchronized long rowGroupReads() {
        return reads;
    }

    /** The sample with global index {@code index}. */
    public CanonicalDataset.Sample get(long index) {
        int[] loc = dataset.locate(index);
        long key = ((long) loc[0] << 32) | loc[1];
        CompletableFuture<CanonicalDataset.RowGroup> f;
        boolean load = false;
        synchronized (this) {
            f = cache.get(key);
            if (f == null) {
                f = new CompletableFuture<>();
                cache.put(key, f);
                load = true;
                reads++;
            }
        }
        if (load) {
            try {
                CanonicalDataset.RowGroup rg = dataset.readRowGroup(loc[0], loc[1]);
                f.complete(rg);
                synchronized (this) {
                    long b = rg.heapBytes();
                    sizes.put(key, b);
                    used += b;
                    evict(key);
                }
            } catch (IOException | RuntimeException e) {
                f.completeExceptionally(e);
                synchronized (this) {
                    cache.remove(key);
                }
            }
        }
        try {
            return f.join().sample(loc[2]);
        } catch (CompletionException e) {
            if (e.getCause() instanceof IOException io) {
                throw new UncheckedIOException(io);
            }
            throw e;
        }
    }

    private void evict(long keep) {
        Iterator<Map.Entry<Long, CompletableFuture<CanonicalDataset.RowGroup>>> it =
                cache.entrySet().iterator();
        while (used > cacheBytes && it.hasNext()) {
            Map.Entry<Long, CompletableFuture<CanonicalDataset.RowGroup>> e = it.next();
            if (e.getKey() != keep && e.getValue().isDone() && sizes.containsKey(e.getKey())) {
                used -= sizes.remove(e.getKey());
                it.remove();
            }
        }
    }
}
