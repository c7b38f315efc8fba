package dev.rq.jobs.tokenize;

import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.dataset.RowPlan;
import dev.rq.data.dataset.RowRange;
import dev.rq.data.image.ImageDecodeException;
import dev.rq.executor.ExecutorDatasets;
import dev.rq.executor.RqVaeModel;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.tables.Variant;
import dev.rq.data.image.Views;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The per-partition work of the tokenize job: a background thread reads the partition's rows and
 * decodes and transforms the images into fixed-size batches (the last one padded by repeating its
 * last view, padding outputs are dropped); the task thread encodes each batch with the executor's
 * shared model and hands the rows to Spark's Parquet writer. Rows come out in source order, views
 * of an image in the order of {@code variants}.
 */
public final class TokenizeTask implements FlatMapFunction<Iterator<RowPlan.Task>, Row>, Serializable {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(TokenizeTask.class);

    private final RqVaeModel model;
    private final SerializableHadoopConf conf;
    private final List<Variant> variants;
    private final int batchSize;
    private final int size;
    private final int codesLength;
    private final int[] codebookSizes;
    private final boolean shortCodes;
    private final int latentBytes;
    private final int failPartition;

    /**
     * @param model the executor model handle
     * @param conf Hadoop configuration for the dataset
     * @param variants views per image
     * @param batchSize views per model call
     * @param size model resolution S
     * @param codeShape [h, w, D]
     * @param codebookSizes K per depth (codes are checked against it)
     * @param shortCodes store codes as int16
     * @param withLatents also store latents
     * @param latentChannels C
     * @param failPartition test hook: the first attempt of this partition throws midway (-1 = off)
     */
    public TokenizeTask(RqVaeModel model, SerializableHadoopConf conf, List<Variant> variants, int batchSize,
            int size, int[] codeShape, int[] codebookSizes, boolean shortCodes, boolean withLatents,
            int latentChannels, int failPartition) {
        this.model = model;
        this.conf = conf;
        this.variants = List.copyOf(variants);
        this.batchSize = batchSize;
        this.size = size;
        this.codesLength = codeShape[0] * codeShape[1] * codeShape[2];
        this.codebookSizes = codebookSizes.clone();
        this.shortCodes = shortCodes;
        this.latentBytes = withLatents ? codeShape[0] * codeShape[1] * latentChannels * 2 : 0;
        this.failPartition = failPartition;
    }

    /** Test hook failure. */
    public static final class InjectedFailure extends RuntimeException {
        InjectedFailure(String m) {
            super(m);
        }
    }

    @Override
    public Iterator<Row> call(Iterator<RowPlan.Task> tasks) {
        List<RowRange> list = new ArrayList<>();
        tasks.forEachRemaining(t -> list.addAll(List.of(t.ranges())));
        if (list.isEmpty()) {
            return Collections.emptyIterator();
        }
        Producer producer = new Producer(list);
        Thread t = new Thread(producer, "rq-tokenize-decode");
        t.setDaemon(true);
        t.start(); // decoding starts while the model loads (first task of an executor)
        TaskContext ctx = TaskContext.get();
        boolean fail = ctx != null && ctx.partitionId() == failPartition && ctx.attemptNumber() == 0;
        if (ctx != null) {
            ctx.addTaskCompletionListener(c -> {
                producer.stop = true;
                t.interrupt();
            });
        }
        long t0 = System.nanoTime();
        RqVaeModel.Loaded m;
        try {
            m = model.get();
        } catch (RuntimeException e) {
            producer.stop = true;
            t.interrupt();
            throw e;
        }
        long ready = System.nanoTime();
        int partition = ctx == null ? -1 : ctx.partitionId();
        return new Iterator<>() {
            private Iterator<Row> current = Collections.emptyIterator();
            private boolean done;
            private int batches;
            private int views;
            private long waiting; // for decoded batches
            private long encoding;

            @Override
            public boolean hasNext() {
                while (!current.hasNext() && !done) {
                    if (fail && ++batches == 2) { // after the first batch's rows went to the writer
                        throw new InjectedFailure("injected failure of the first attempt of partition "
                                + failPartition + " (test hook " + TokenizeJob.TEST_FAIL_PARTITION + ")");
                    }
                    long a = System.nanoTime();
                    Object next = take(producer.queue);
                    long b = System.nanoTime();
                    waiting += b - a;
                    if (next == END) {
                        done = true;
                        LOG.info("task {}: {} views in {} ms (model ready after {} ms, encoding {} ms, waiting for"
                                + " decoded images {} ms, the rest writing)", partition, views,
                                (System.nanoTime() - t0) / 1_000_000, (ready - t0) / 1_000_000, encoding / 1_000_000,
                                waiting / 1_000_000);
                    } else if (next instanceof Throwable e) {
                        done = true;
                        throw e instanceof RuntimeException re ? re : new RuntimeException(e);
                    } else {
                        Batch batch = (Batch) next;
                        current = encode(m, batch).iterator();
                        views += batch.count;
                        encoding += System.nanoTime() - b;
                    }
                }
                return current.hasNext();
            }

            @Override
            public Row next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                return current.next();
            }
        };
    }

    private static Object take(BlockingQueue<Object> q) {
        try {
            return q.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for decoded images", e);
        }
    }

    private List<Row> encode(RqVaeModel.Loaded m, Batch b) {
        RqVaeModel.Encoded e = m.encode(b.x, batchSize, size, latentBytes > 0);
        List<Row> rows = new ArrayList<>(b.count);
        int depth = codebookSizes.length;
        for (int i = 0; i < b.count; i++) {
            int base = i * codesLength;
            Object codes;
            if (shortCodes) {
                short[] c = new short[codesLength];
                for (int j = 0; j < codesLength; j++) {
                    c[j] = (short) check(e.codes()[base + j], j % depth);
                }
                codes = c;
            } else {
                int[] c = new int[codesLength];
                for (int j = 0; j < codesLength; j++) {
                    c[j] = (int) check(e.codes()[base + j], j % depth);
                }
                codes = c;
            }
            if (latentBytes > 0) {
                byte[] lat = new byte[latentBytes];
                System.arraycopy(e.latentsF16(), i * latentBytes, lat, 0, latentBytes);
                rows.add(RowFactory.create(b.ids[i], b.labels[i], (short) b.variants[i], codes, b.shards[i],
                        b.rowsInShard[i], lat, b.split));
            } else {
                rows.add(RowFactory.create(b.ids[i], b.labels[i], (short) b.variants[i], codes, b.shards[i],
                        b.rowsInShard[i], b.split));
            }
        }
        return rows;
    }

    private long check(long code, int d) {
        if (code < 0 || code >= codebookSizes[d]) {
            throw new IllegalStateException("code " + code + " at depth " + d + " outside [0, " + codebookSizes[d] + ")");
        }
        return code;
    }

    private static final Object END = new Object();

    /** One model call's input and the identity of its first {@code count} views. */
    private static final class Batch {
        final float[] x;
        final String split;
        final String[] ids;
        final long[] labels;
        final int[] variants;
        final String[] shards;
        final long[] rowsInShard;
        int count;

        Batch(int b, int n, String split) {
            x = new float[b * n];
            this.split = split;
            ids = new String[b];
            labels = new long[b];
            variants = new int[b];
            shards = new String[b];
            rowsInShard = new long[b];
        }
    }

    /** Reads, decodes and transforms the partition's images into batches (background thread). */
    private final class Producer implements Runnable {
        final BlockingQueue<Object> queue = new ArrayBlockingQueue<>(2);
        final List<RowRange> units;
        volatile boolean stop;

        Producer(List<RowRange> units) {
            this.units = units;
        }

        @Override
        public void run() {
            try {
                Views views = new Views(size);
                int n = views.tensorLength();
                float[] tmp = new float[variants.size() * n];
                Batch batch = null;
                for (RowRange u : units) {
                    CanonicalDataset ds = dataset(u);
                    CanonicalDataset.RowGroup rg = ds.readRowGroup(u.shard(), u.rowGroup());
                    for (int r = u.from(); r < u.to() && !stop; r++) {
                        long rowInShard = u.groupFirstRow() + r;
                        String id = rg.paths()[r] != null ? rg.paths()[r] : u.shardRel() + ":" + rowInShard;
                        try {
                            views.write(rg.bytes()[r], variants, tmp, 0);
                        } catch (ImageDecodeException e) {
                            throw new IllegalStateException("cannot decode image " + id + " (" + u.shardRel()
                                    + " row " + rowInShard + "): " + e.getMessage(), e);
                        }
                        for (int v = 0; v < variants.size(); v++) {
                            if (batch != null && !batch.split.equals(u.split())) {
                                put(pad(batch, n));
                                batch = null;
                            }
                            if (batch == null) {
                                batch = new Batch(batchSize, n, u.split());
                            }
                            int i = batch.count++;
                            System.arraycopy(tmp, v * n, batch.x, i * n, n);
                            batch.ids[i] = id;
                            batch.labels[i] = rg.labels()[r];
                            batch.variants[i] = variants.get(v).id;
                            batch.shards[i] = u.shardRel();
                            batch.rowsInShard[i] = rowInShard;
                            if (batch.count == batchSize) {
                                put(batch);
                                batch = null;
                            }
                        }
                    }
                }
                if (batch != null && !stop) {
                    put(pad(batch, n));
                }
                put(END);
            } catch (InterruptedException e) {
                // task finished or was cancelled
            } catch (Throwable e) {
                try {
                    queue.clear();
                    queue.put(e);
                } catch (InterruptedException ignored) {
                    // task finished or was cancelled
                }
            }
        }

        private void put(Object o) throws InterruptedException {
            while (!stop && !queue.offer(o, 100, TimeUnit.MILLISECONDS)) {
                // wait for the model
            }
        }
    }

    /** Fills the unused slots with copies of the last view so every model call has the same shape. */
    private Batch pad(Batch b, int n) {
        for (int i = b.count; i < batchSize; i++) {
            System.arraycopy(b.x, (b.count - 1) * n, b.x, i * n, n);
        }
        return b;
    }

    private CanonicalDataset dataset(RowRange unit) {
        return ExecutorDatasets.get(unit, conf.get());
    }
}
