package dev.rq.jobs.decode;

import dev.rq.io.HadoopDir;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.executor.RqVaeModel;
import dev.rq.model.engine.Engines;
import dev.rq.model.metrics.Psnr;
import dev.rq.model.vae.RqVae;
import dev.rq.report.ImageGrid;
import dev.rq.tables.TokenRow;
import java.io.IOException;
import java.io.OutputStream;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.Partitioner;
import org.apache.spark.api.java.function.FlatMapFunction;
import scala.Tuple2;

/**
 * One decode task: its rows (a contiguous range of global row indices, in index order) decoded in
 * batches of {@link DecodeJob#BATCH} with the executor's cached RQ-VAE ({@link RqVaeModel}:
 * the same cache entry as a tokenize job of that checkpoint) and written as PNGs straight under the
 * output root through Hadoop FileSystem. Returns one {@link Part}: the file names of all its rows
 * and, for the rows with index below {@code returned}, the rows and their float images; with a
 * {@link DecodeJob.Reference}, every row's PSNR against its original (read here, per batch).
 *
 * <pre>
 *   (index, row)… → batches of 16 (last padded) → per depth k: decode → PNG per row
 *                 → [originals → PSNR per row] → Part(files…, first rows + images, scores…)
 * </pre>
 */
final class DecodeTask implements FlatMapFunction<Iterator<Tuple2<Long, TokenRow>>, DecodeTask.Part> {
    private static final long serialVersionUID = 1L;

    /**
     * What a task gives back to the driver.
     *
     * @param first index of the task's first row
     * @param files per depth, the PNG paths (relative to the root) of the task's rows, in index order
     * @param rows the task's rows with index below {@code returned}
     * @param images per depth, those rows' NCHW floats
     * @param scores with a reference, every row's PSNR (last depth), in index order; else empty
     */
    record Part(long first, List<List<String>> files, List<TokenRow> rows, List<float[]> images,
            List<DecodeJob.Score> scores) implements Serializable {}

    private final RqVaeModel model;
    private final String root;
    private final SerializableHadoopConf conf;
    private final int[] codeShape;
    private final List<Integer> depths;
    private final boolean suffixed;
    private final long returned;
    private final int threads;
    private final DecodeJob.Reference reference;

    /**
     * @param root the output root URI
     * @param depths code levels decoded, one image set per entry
     * @param suffixed file names carry {@code _d<k>} (with {@code --depths})
     * @param returned rows with a smaller global index come back with their images
     * @param reference originals to measure every row against, or null
     */
    DecodeTask(RqVaeModel model, String root, SerializableHadoopConf conf, int[] codeShape,
            List<Integer> depths, boolean suffixed, long returned, int threads, DecodeJob.Reference reference) {
        this.model = model;
        this.root = root;
        this.conf = conf;
        this.codeShape = codeShape.clone();
        this.depths = List.copyOf(depths);
        this.suffixed = suffixed;
        this.returned = returned;
        this.threads = threads;
        this.reference = reference;
    }

    @Override
    public Iterator<Part> call(Iterator<Tuple2<Long, TokenRow>> it) throws IOException {
        if (!it.hasNext()) {
            return List.<Part>of().iterator();
        }
        RqVae vae = model.get().vae();
        Engines.pytorch(threads); // intra-op threads of this task's thread (after a load on another thread)
        HadoopDir out = new HadoopDir(root, conf.get());
        Map<String, HadoopDir> dirs = new LinkedHashMap<>();
        List<List<String>> files = new ArrayList<>();
        List<float[]> images = new ArrayList<>();
        for (int j = 0; j < depths.size(); j++) {
            files.add(new ArrayList<>());
            images.add(null);
        }
        List<TokenRow> kept = new ArrayList<>();
        List<DecodeJob.Score> scores = new ArrayList<>();
        long first = -1;
        long expected = -1;
        List<Tuple2<Long, TokenRow>> batch = new ArrayList<>(DecodeJob.BATCH);
        while (it.hasNext()) {
            Tuple2<Long, TokenRow> t = it.next();
            if (first < 0) {
                first = t._1();
                expected = first;
            }
            if (t._1() != expected) {
                throw new IllegalStateException("decode task: row index " + t._1() + " where " + expected
                        + " was expected (rows must be contiguous and sorted)");
            }
            expected++;
            batch.add(t);
            if (batch.size() == DecodeJob.BATCH || !it.hasNext()) {
                decodeBatch(vae, batch, out, dirs, files, images, kept, scores);
                batch.clear();
            }
        }
        return List.of(new Part(first, files, kept, images, scores)).iterator();
    }

    private void decodeBatch(RqVae vae, List<Tuple2<Long, TokenRow>> batch, HadoopDir out,
            Map<String, HadoopDir> dirs, List<List<String>> files, List<float[]> images, List<TokenRow> kept,
            List<DecodeJob.Score> scores) throws IOException {
        List<int[]> codes = batch.stream().map(t -> t._2().getCodes()).toList();
        int keep = 0;
        for (Tuple2<Long, TokenRow> t : batch) {
            if (t._1() < returned) {
                keep++;
                kept.add(t._2());
            }
        }
        for (int j = 0; j < depths.size(); j++) {
            int k = depths.get(j);
            float[] x = DecodeJob.decode(vae, codes, codeShape, DecodeJob.BATCH, k);
            int per = x.length / batch.size();
            int res = (int) Math.round(Math.sqrt(per / 3.0));
            String suffix = suffixed ? "_d" + k : "";
            for (int i = 0; i < batch.size(); i++) {
                TokenRow r = batch.get(i)._2();
                HadoopDir d = dirs.get(r.getSplit());
                if (d == null) {
                    d = out.child(DecodeJob.safe(r.getSplit()));
                    dirs.put(r.getSplit(), d);
                }
                String name = DecodeJob.fileName(batch.get(i)._1(), r, suffix);
                try (OutputStream s = d.create(name)) {
                    ImageGrid.writePng(ImageGrid.image(x, i, 3, res, res), s);
                }
                files.get(j).add(DecodeJob.safe(r.getSplit()) + "/" + name);
            }
            if (reference != null && j == depths.size() - 1) {
                score(batch, x, per, res, scores);
            }
            if (keep > 0) { // the kept rows are the batch's first ones (indices ascend)
                float[] prev = images.get(j);
                int had = prev == null ? 0 : prev.length;
                float[] grown = new float[had + keep * per];
                if (prev != null) {
                    System.arraycopy(prev, 0, grown, 0, had);
                }
                System.arraycopy(x, 0, grown, had, keep * per);
                images.set(j, grown);
            }
        }
    }

    /** Every row's PSNR: its reconstruction (of {@code x}, {@code per} floats a row) against its original. */
    private void score(List<Tuple2<Long, TokenRow>> batch, float[] x, int per, int res, List<DecodeJob.Score> scores)
            throws IOException {
        List<TokenRow> rows = batch.stream().map(Tuple2::_2).toList();
        float[] originals = reference.originals(rows, res);
        for (int i = 0; i < rows.size(); i++) {
            TokenRow r = rows.get(i);
            scores.add(new DecodeJob.Score(r.getId(), r.getLabel(), Psnr.of(originals, i * per, x, i * per, per)));
        }
    }

    /**
     * Global row index → task: contiguous ranges of {@code perTask} indices (a multiple of {@link
     * DecodeJob#BATCH}, so every model batch holds the same rows as a decode of all rows in one
     * sequence of batches).
     */
    static final class IndexRanges extends Partitioner {
        private static final long serialVersionUID = 1L;
        private final int parts;
        private final long perTask;

        IndexRanges(int parts, long perTask) {
            this.parts = parts;
            this.perTask = perTask;
        }

        @Override
        public int numPartitions() {
            return parts;
        }

        @Override
        public int getPartition(Object key) {
            return (int) Math.min(parts - 1, (Long) key / perTask);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof IndexRanges r && r.parts == parts && r.perTask == perTask;
        }

        @Override
        public int hashCode() {
            return Long.hashCode(perTask) * 31 + parts;
        }
    }

    static String describe(long n, int parts, long perTask) {
        return String.format(Locale.ROOT, "%d rows in %d tasks of up to %d", n, parts, perTask);
    }
}
