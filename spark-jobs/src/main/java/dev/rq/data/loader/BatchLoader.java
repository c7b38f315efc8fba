package dev.rq.data.loader;

import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.image.ImageDecodeException;
import dev.rq.data.image.ImageDecoding;
import dev.rq.data.image.ImageTransform;
import java.awt.image.BufferedImage;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Iterates one rank's slices of the global batches ({@link EpochPlan}), decoding and transforming
 * images on a pool of background threads with a bounded prefetch of whole batches.
 *
 * <pre>{@code
 * try (BatchLoader loader = BatchLoader.builder()
 *         .setStore(new SampleStore(CanonicalDataset.open(uri, conf), 1L << 30))
 *         .setGlobalBatchSize(128).optRank(rank, worldSize).optSeed(0)
 *         .setTransform(new ImageTransform(256, ImageTransform.Mode.TRAIN))
 *         .optThreads(4).optPrefetch(2).optStart(savedCursor).optEndEpoch(100).build()) {
 *     while (loader.hasNext()) { Batch b = loader.next(); ... save b.next() with checkpoints ... }
 * }
 * }</pre>
 *
 * Every value in a batch is a pure function of (dataset, seed, transform, cursor, rank, N): the
 * thread count, prefetch depth and scheduling change nothing. Images that fail to decode (which
 * the ingest rules out) raise an exception naming the sample.
 */
public final class BatchLoader implements Iterator<Batch>, AutoCloseable {
    private final SampleStore store;
    private final int globalBatch;
    private final int rank;
    private final int worldSize;
    private final long seed;
    private final boolean shuffle;
    private final ImageTransform transform;
    private final int prefetch;
    private final int endEpoch;
    private final long stepsPerEpoch;
    private final int n;
    private final ExecutorService pool;
    private final ArrayDeque<CompletableFuture<Batch>> queue = new ArrayDeque<>();
    private Cursor nextToSubmit;
    private Cursor nextToReturn;
    private int orderEpoch = -1;
    private int[] order;

    private BatchLoader(Builder b) {
        this.store = b.store;
        this.globalBatch = b.globalBatch;
        this.rank = b.rank;
        this.worldSize = b.worldSize;
        this.seed = b.seed;
        this.shuffle = b.shuffle;
        this.transform = b.transform;
        this.prefetch = b.prefetch;
        this.endEpoch = b.endEpoch;
        long rows = store.dataset().numRows();
        if (rows > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("more than 2^31-1 samples: " + rows);
        }
        this.n = (int) rows;
        this.stepsPerEpoch = EpochPlan.stepsPerEpoch(n, globalBatch);
        if (stepsPerEpoch == 0) {
            throw new IllegalArgumentException("global batch " + globalBatch + " > " + n
                    + " samples");
        }
        if (b.start.step() >= stepsPerEpoch) {
            throw new IllegalArgumentException("cursor step " + b.start.step() + " >= "
                    + stepsPerEpoch + " steps per epoch");
        }
        this.nextToSubmit = b.start;
        this.nextToReturn = b.start;
        AtomicInteger id = new AtomicInteger();
        this.pool = Executors.newFixedThreadPool(b.threads, r -> {
            Thread t = new Thread(r, "rq-loader-" + id.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /** A new builder. */
    public static Builder builder() {
        return new Builder();
    }

    /** Global batches per epoch. */
    public long stepsPerEpoch() {
        return stepsPerEpoch;
    }

    /** Cursor of the batch the next {@link #next()} returns. */
    public Cursor cursor() {
        return nextToReturn;
    }

    @Override
    public boolean hasNext() {
        return nextToReturn.epoch() < endEpoch;
    }

    @Override
    public Batch next() {
        if (!hasNext()) {
            throw new NoSuchElementException();
        }
        while (queue.size() < prefetch && nextToSubmit.epoch() < endEpoch) {
            queue.add(submit(nextToSubmit));
            nextToSubmit = nextToSubmit.next(stepsPerEpoch);
        }
        try {
            Batch b = queue.poll().join();
            nextToReturn = b.next();
            return b;
        } catch (CompletionException e) {
            throw e.getCause() instanceof RuntimeException re ? re : e;
        }
    }

    /**
     * Builds the batch at {@code c} synchronously on the calling thread (no prefetch); the same
     * values {@link #next()} returns for that cursor.
     */
    public Batch batchAt(Cursor c) {
        long[] idx = EpochPlan.slice(orderFor(c.epoch()), c.step(), globalBatch, rank, worldSize);
        Batch b = newBatch(c, idx);
        for (int j = 0; j < idx.length; j++) {
            fill(b, j);
        }
        return b;
    }

    private CompletableFuture<Batch> submit(Cursor c) {
        long[] idx = EpochPlan.slice(orderFor(c.epoch()), c.step(), globalBatch, rank, worldSize);
        Batch b = newBatch(c, idx);
        CompletableFuture<?>[] parts = new CompletableFuture<?>[idx.length];
        for (int j = 0; j < idx.length; j++) {
            final int jj = j;
            parts[j] = CompletableFuture.runAsync(() -> fill(b, jj), pool);
        }
        return CompletableFuture.allOf(parts).thenApply(v -> b);
    }

    private Batch newBatch(Cursor c, long[] idx) {
        return new Batch(c, c.next(stepsPerEpoch), rank, worldSize, idx, new long[idx.length],
                new float[idx.length * transform.tensorLength()], transform.size());
    }

    private synchronized int[] orderFor(int epoch) {
        if (epoch != orderEpoch) {
            order = EpochPlan.order(seed, epoch, n, shuffle);
            orderEpoch = epoch;
        }
        return order;
    }

    private void fill(Batch b, int j) {
        long index = b.indices()[j];
        CanonicalDataset.Sample s = store.get(index);
        BufferedImage img;
        try {
            img = ImageDecoding.decode(s.bytes());
        } catch (ImageDecodeException e) {
            throw new IllegalStateException("sample " + index + " (" + s.path()
                    + ") does not decode: " + e.getMessage(), e);
        }
        b.labels()[j] = s.label();
        transform.apply(img, EpochPlan.mix(seed, b.cursor().epoch(), index), b.images(),
                j * transform.tensorLength());
    }

    @Override
    public void close() {
        pool.shutdownNow();
    }

    /** Builder: {@code set*} required, {@code opt*} optional. */
    public static final class Builder {
        private SampleStore store;
        private int globalBatch;
        private int rank = 0;
        private int worldSize = 1;
        private long seed = 0;
        private boolean shuffle = true;
        private ImageTransform transform;
        private int threads = Math.max(1, Runtime.getRuntime().availableProcessors());
        private int prefetch = 2;
        private Cursor start = Cursor.start();
        private int endEpoch = Integer.MAX_VALUE;

        /** The sample source (required). */
        public Builder setStore(SampleStore store) {
            this.store = store;
            return this;
        }

        /** Global batch size B over all workers (required). */
        public Builder setGlobalBatchSize(int b) {
            this.globalBatch = b;
            return this;
        }

        /** Image transform (required). */
        public Builder setTransform(ImageTransform t) {
            this.transform = t;
            return this;
        }

        /** This worker's rank and the worker count N (default 0 of 1); B % N must be 0. */
        public Builder optRank(int rank, int worldSize) {
            this.rank = rank;
            this.worldSize = worldSize;
            return this;
        }

        /** Seed of order and augmentation (default 0). */
        public Builder optSeed(long seed) {
            this.seed = seed;
            return this;
        }

        /** Shuffle per epoch (default true); false keeps dataset order (evaluation). */
        public Builder optShuffle(boolean shuffle) {
            this.shuffle = shuffle;
            return this;
        }

        /** Decode threads (default: available processors). */
        public Builder optThreads(int threads) {
            this.threads = threads;
            return this;
        }

        /** Batches decoded ahead (default 2). */
        public Builder optPrefetch(int prefetch) {
            this.prefetch = prefetch;
            return this;
        }

        /** Where to start (default epoch 0, step 0). */
        public Builder optStart(Cursor start) {
            this.start = start;
            return this;
        }

        /** Stop before this epoch (default: never). */
        public Builder optEndEpoch(int endEpoch) {
            this.endEpoch = endEpoch;
            return this;
        }

        /** Validates and builds. */
        public BatchLoader build() {
            if (store == null || transform == null) {
                throw new IllegalArgumentException("store and transform are required");
            }
            EpochPlan.checkSlicing(globalBatch, rank, worldSize);
            if (threads < 1 || prefetch < 1) {
                throw new IllegalArgumentException("threads and prefetch must be >= 1");
            }
            return new BatchLoader(this);
        }
    }
}
