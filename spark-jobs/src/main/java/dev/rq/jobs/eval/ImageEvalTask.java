package dev.rq.jobs.eval;

import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.dataset.RowPlan;
import dev.rq.data.dataset.RowRange;
import dev.rq.data.image.ImageDecodeException;
import dev.rq.data.image.ImageDecoding;
import dev.rq.data.image.ImageTransform;
import dev.rq.executor.ExecutorDatasets;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.model.metrics.InceptionV3;
import dev.rq.model.metrics.Psnr;
import dev.rq.model.metrics.Ssim;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The per-partition work of {@code rq eval} on dataset images: reads its rows in place, decodes
 * and transforms each image (the evaluation transform: shorter side to S, center crop, [−1, 1]),
 * groups them into fixed batches (the last one padded by repeating its last image; padding
 * outputs are dropped) and emits one {@link EvalTable} row per image, one batch at a time.
 *
 * <p>With {@code reconstruct}: the RQ-VAE reconstructs the batch (eval mode); PSNR, SSIM and the
 * codes of every image; LPIPS when the job has LPIPS weights; Inception features of the original
 * and of the reconstruction. Without:
 * Inception features (and logits when asked) of the images only (reference or generated sets).
 */
public final class ImageEvalTask implements FlatMapFunction<Iterator<RowPlan.Task>, Row>, Serializable {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(ImageEvalTask.class);
    private final EvalModels models;
    private final SerializableHadoopConf conf;
    private final int size;
    private final int batch;
    private final boolean reconstruct;
    private final boolean logits;

    /**
     * @param models the executor networks
     * @param conf Hadoop configuration of the dataset
     * @param size S, the side images are transformed to
     * @param batch images per model call
     * @param reconstruct reconstruct with the RQ-VAE and measure (else features of the images only)
     * @param logits also store the Inception logits
     */
    public ImageEvalTask(EvalModels models, SerializableHadoopConf conf, int size, int batch, boolean reconstruct,
            boolean logits) {
        this.models = models;
        this.conf = conf;
        this.size = size;
        this.batch = batch;
        this.reconstruct = reconstruct;
        this.logits = logits;
    }

    @Override
    public Iterator<Row> call(Iterator<RowPlan.Task> tasks) {
        List<RowPlan.Task> list = new ArrayList<>();
        tasks.forEachRemaining(list::add);
        if (list.isEmpty()) {
            return Collections.emptyIterator();
        }
        EvalModels.Loaded m = models.get();
        Reader reader = new Reader(list);
        int partition = TaskContext.get() == null ? -1 : TaskContext.getPartitionId();
        long t0 = System.nanoTime();
        return new Iterator<>() {
            private final Deque<Row> rows = new ArrayDeque<>();
            private long images;

            @Override
            public boolean hasNext() {
                while (rows.isEmpty() && reader.hasNext()) {
                    Batch b = reader.next();
                    rows.addAll(evaluate(m, b));
                    images += b.count;
                    if (!reader.hasNext()) {
                        LOG.info("eval task {}: {} images in {} ms", partition, images,
                                (System.nanoTime() - t0) / 1_000_000);
                    }
                }
                return !rows.isEmpty();
            }

            @Override
            public Row next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                return rows.poll();
            }
        };
    }

    /** Model calls and per-image rows of one batch. */
    private List<Row> evaluate(EvalModels.Loaded m, Batch b) {
        int n = 3 * size * size;
        EvalModels.Reconstruction rec = reconstruct ? m.reconstruct(b.x, batch, size) : null;
        EvalModels.Features f = models.hasInception() ? m.features(b.x, batch, size, size, logits) : null;
        EvalModels.Features fr = rec != null && models.hasInception()
                ? m.features(rec.recon(), batch, size, size, false) : null;
        float[] lpips = rec != null && models.hasLpips() ? m.lpips(b.x, rec.recon(), batch, size) : null;
        int codesPer = rec == null ? 0 : rec.codes().length / batch;
        int d = InceptionV3.FEATURES;
        List<Row> out = new ArrayList<>(b.count);
        for (int i = 0; i < b.count; i++) {
            Double psnr = null;
            Double ssim = null;
            int[] codes = null;
            if (rec != null) {
                psnr = Psnr.of(b.x, i * n, rec.recon(), i * n, n);
                ssim = Ssim.of(b.x, i * n, rec.recon(), i * n, 3, size, size);
                codes = new int[codesPer];
                for (int j = 0; j < codesPer; j++) {
                    codes[j] = Math.toIntExact(rec.codes()[i * codesPer + j]);
                }
            }
            out.add(RowFactory.create(b.index[i], b.split[i], b.id[i], b.label[i], b.shard[i], b.row[i], psnr, ssim,
                    lpips == null ? null : (double) lpips[i], codes,
                    f == null ? null : EvalTable.floatBytes(f.features(), i * d, d),
                    fr == null ? null : EvalTable.floatBytes(fr.features(), i * d, d),
                    f == null || f.logits() == null ? null
                            : EvalTable.floatBytes(f.logits(), i * InceptionV3.CLASSES, InceptionV3.CLASSES)));
        }
        return out;
    }

    /** A model batch: {@code count} real images, padded to the batch size. */
    private static final class Batch {
        final float[] x;
        final long[] index;
        final String[] split;
        final String[] id;
        final long[] label;
        final String[] shard;
        final long[] row;
        int count;

        Batch(int b, int n) {
            x = new float[b * n];
            index = new long[b];
            split = new String[b];
            id = new String[b];
            label = new long[b];
            shard = new String[b];
            row = new long[b];
        }
    }

    /** Reads the task's rows in order and cuts them into batches. */
    private final class Reader implements Iterator<Batch> {
        private final ImageTransform transform = new ImageTransform(size, ImageTransform.Mode.EVAL);
        private final List<RowPlan.Task> tasks;
        private int task;
        private int range;
        private int row = -1;
        private long index;
        private CanonicalDataset.RowGroup group;

        Reader(List<RowPlan.Task> tasks) {
            this.tasks = tasks;
            this.index = tasks.get(0).firstIndex();
        }

        @Override
        public boolean hasNext() {
            return advance();
        }

        /** Positions on the next row to read; false at the end. */
        private boolean advance() {
            while (task < tasks.size()) {
                RowRange[] ranges = tasks.get(task).ranges();
                if (range < ranges.length) {
                    RowRange r = ranges[range];
                    if (row < 0) {
                        row = r.from();
                        group = read(r);
                    }
                    if (row < r.to()) {
                        return true;
                    }
                    range++;
                    row = -1;
                } else {
                    task++;
                    range = 0;
                    row = -1;
                    if (task < tasks.size()) {
                        index = tasks.get(task).firstIndex();
                    }
                }
            }
            return false;
        }

        @Override
        public Batch next() {
            int n = transform.tensorLength();
            Batch b = new Batch(batch, n);
            while (b.count < batch && advance()) {
                RowRange r = tasks.get(task).ranges()[range];
                long rowInShard = r.groupFirstRow() + row;
                String id = group.paths()[row] != null ? group.paths()[row] : r.shardRel() + ":" + rowInShard;
                try {
                    transform.apply(ImageDecoding.decode(group.bytes()[row]), 0L, b.x, b.count * n);
                } catch (ImageDecodeException e) {
                    throw new IllegalStateException("cannot decode image " + id + " (" + r.shardRel() + " row "
                            + rowInShard + "): " + e.getMessage(), e);
                }
                int i = b.count++;
                b.index[i] = index++;
                b.split[i] = r.split();
                b.id[i] = id;
                b.label[i] = group.labels()[row];
                b.shard[i] = r.shardRel();
                b.row[i] = rowInShard;
                row++;
            }
            if (b.count == 0) {
                throw new NoSuchElementException();
            }
            for (int i = b.count; i < batch; i++) { // same shape for every call
                System.arraycopy(b.x, (b.count - 1) * n, b.x, i * n, n);
            }
            return b;
        }

        private CanonicalDataset.RowGroup read(RowRange r) {
            CanonicalDataset ds = ExecutorDatasets.get(r, conf.get());
            try {
                return ds.readRowGroup(r.shard(), r.rowGroup());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
