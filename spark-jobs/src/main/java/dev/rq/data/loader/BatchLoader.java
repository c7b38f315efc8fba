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
 * Iterates one rank's slices of the global image batches of an {@link EpochPlan}: blocks are read
 * ahead window by window ({@link BlockStream}), images decoded and transformed on a pool of
 * background threads with a bounded prefetch of whole batches.
 *
 * <pre>{@code
 * try (BatchLoader loader = BatchLoader.builder()
 *         .setDataset(CanonicalDataset.open(uri, conf))
 *         .setGlobalBatchSize(128).optRank(rank, worldSize).optSeed(0)
 *         .optPartitions(8).optShuffleWindow(1024).optCacheBytes(2L << 30)
 *         .setTransform(new ImageTransform(256, ImageTransform.Mode.TRAIN))
 *         .optThreads(4).optPrefetch(2).optStart(savedCursor).optEndEpoch(100).build()) {
 *     while (loader.hasNext()) { Batch b = loader.next(); ... save b.next() with checkpoints ... }
 * }
 * }</pre>
 *
 * Every value in a batch is a pure function of (dataset, seed, partitions, window, transform,
 * cursor, rank, N), and the concatenation of the N ranks' slices does not depend on N: the thread
 * counts, prefetch depth, cache size and scheduling change nothing. Images that fail to decode
 * (which the ingest rules out) raise an exception naming the sample.
 */
public final class BatchLoader implements Iterator<Batch>, AutoCloseable {
    private final BlockStream<CanonicalDataset.RowGroup> stream;
    private final int rank;
    private final int worldSize;
    private final long seed;
    private final ImageTransform transform;
    private final int prefetch;
    private final int endEpoch;
    private final long stepsPerEpoch;
    private final ExecutorService pool;
    private final ArrayDeque<CompletableFuture<Batch>> queue = new ArrayDeque<>();
    private Cursor nextToSubmit;
    private Cursor nextToReturn;

    private BatchLoader(Builder b) {
        this.rank = b.rank;
        this.worldSize = b.worldSize;
        this.seed = b.seed;
        this.transform = b.transform;
        this.prefetch = b.prefetch;
        this.endEpoch = b.endEpoch;
        ImageBlocks source = new ImageBlocks(b.dataset);
        EpochPlan plan = b.shuffle
                ? new EpochPlan(source.index(), b.globalBatch, b.partitions, b.window, b.seed, true)
                : EpochPlan.sequential(source.index(), b.globalBatch);
        this.stream = new BlockStream<>(source, plan, b.shuffle ? b.rank : 0, b.shuffle ? b.worldSize : 1,
                b.cacheBytes, b.readThreads, b.start, b.endEpoch);
        this.stepsPerEpoch = stream.stepsPerEpoch();
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

    /** @return the block stream (read statistics) */
    public BlockStream<CanonicalDataset.RowGroup> stream() {
        return stream;
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
            queue.add(submit(stream.open(nextToSubmit)));
            nextToSubmit = nextToSubmit.next(stepsPerEpoch);
        }
        try {
            Batch b = queue.poll().join();
            stream.done(b.cursor());
            nextToReturn = b.next();
            return b;
        } catch (CompletionException e) {
            throw e.getCause() instanceof RuntimeException re ? re : e;
        }
    }

    /**
     * Builds the batch at {@code c} synchronously on the calling thread (no prefetch, outside the
     * read-ahead schedule); the same values {@link #next()} returns for that cursor.
     */
    public Batch batchAt(Cursor c) {
        BlockStream.Slice<CanonicalDataset.RowGroup> s = stream.readUnscheduled(c);
        try {
            Batch b = newBatch(s);
            for (int j = 0; j < s.indices().length; j++) {
                fill(b, s, j);
            }
            return b;
        } finally {
            stream.release(s);
        }
    }

    private CompletableFuture<Batch> submit(BlockStream.Slice<CanonicalDataset.RowGroup> s) {
        Batch b = newBatch(s);
        CompletableFuture<?>[] parts = new CompletableFuture<?>[s.indices().length];
        for (int j = 0; j < parts.length; j++) {
            final int jj = j;
            parts[j] = CompletableFuture.runAsync(() -> fill(b, s, jj), pool);
        }
        return CompletableFuture.allOf(parts).thenApply(v -> b);
    }

    private Batch newBatch(BlockStream.Slice<CanonicalDataset.RowGroup> s) {
        int n = s.indices().length;
        return new Batch(s.cursor(), s.cursor().next(stepsPerEpoch), rank, worldSize, s.indices(),
                new long[n], new float[n * transform.tensorLength()], transform.size());
    }

    private void fill(Batch b, BlockStream.Slice<CanonicalDataset.RowGroup> s, int j) {
        long index = s.indices()[j];
        CanonicalDataset.Sample sample = s.block(j).sample(s.rows()[j]);
        if (sample.bytes() == null) {
            throw new IllegalStateException("sample " + index + " (" + sample.path() + ") has no image bytes");
        }
        BufferedImage img;
        try {
            img = ImageDecoding.decode(sample.bytes());
        } catch (ImageDecodeException e) {
            throw new IllegalStateException("sample " + index + " (" + sample.path()
                    + ") does not decode: " + e.getMessage(), e);
        }
        b.labels()[j] = sample.label();
        transform.apply(img, EpochPlan.mix(seed, b.cursor().epoch(), index), b.images(),
                j * transform.tensorLength());
    }

    @Override
    public void close() {
        pool.shutdownNow();
        stream.close();
    }

    /** Builder: {@code set*} required, {@code opt*} optional. */
    public static final class Builder {
        private CanonicalDataset dataset;
        private int globalBatch;
        private int rank = 0;
        private int worldSize = 1;
        private long seed = 0;
        private boolean shuffle = true;
        private int partitions = 1;
        private int window = 1024;
        private long cacheBytes = 2L << 30;
        private int readThreads = 2;
        private ImageTransform transform;
        private int threads = Math.max(1, Runtime.getRuntime().availableProcessors());
        private int prefetch = 2;
        private Cursor start = Cursor.start();
        private int endEpoch = Integer.MAX_VALUE;

        /** The split to read (required). */
        public Builder setDataset(CanonicalDataset dataset) {
            this.dataset = dataset;
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

        /** This worker's rank and the worker count N (default 0 of 1); N must divide the partitions. */
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

        /** Shuffle per epoch (default true); false keeps storage order on one rank (evaluation). */
        public Builder optShuffle(boolean shuffle) {
            this.shuffle = shuffle;
            return this;
        }

        /** Canonical partitions C (default 1); must divide B. */
        public Builder optPartitions(int partitions) {
            this.partitions = partitions;
            return this;
        }

        /** Rows of a partition shuffled together (default 1024). */
        public Builder optShuffleWindow(int window) {
            this.window = window;
            return this;
        }

        /** Block cache budget in bytes (default 2 GiB). */
        public Builder optCacheBytes(long bytes) {
            this.cacheBytes = bytes;
            return this;
        }

        /** Threads reading blocks (default 2). */
        public Builder optReadThreads(int threads) {
            this.readThreads = threads;
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
            if (dataset == null || transform == null) {
                throw new IllegalArgumentException("dataset and transform are required");
            }
            if (globalBatch <= 0 || globalBatch % worldSize != 0) {
                throw new IllegalArgumentException("global batch " + globalBatch
                        + " must be a positive multiple of the worker count " + worldSize);
            }
            if (threads < 1 || prefetch < 1 || readThreads < 1 || cacheBytes < 1) {
                throw new IllegalArgumentException("threads, read threads, prefetch and cache must be >= 1");
            }
            return new BatchLoader(this);
        }
    }
}
