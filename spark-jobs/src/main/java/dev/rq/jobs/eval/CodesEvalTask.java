package dev.rq.jobs.eval;

import dev.rq.model.metrics.InceptionV3;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import scala.Tuple2;

/**
 * The per-partition work of {@code rq eval --generated} on a token table: each element is one
 * model batch (its rows, grouped by {@code index / batch}, so a batch holds the same images
 * whatever the partitioning); the RQ-VAE decodes the codes and the FID network computes the
 * features and logits of the decoded images, as the official {@code main_sampling_fid.py} does
 * ({@code clamp(decode_code(codes)·0.5 + 0.5, 0, 1)} in float, no 8-bit rounding).
 */
public final class CodesEvalTask implements FlatMapFunction<Iterator<Tuple2<Long, Iterable<CodeItem>>>, Row>,
        Serializable {
    private static final long serialVersionUID = 1L;

    private final EvalModels models;
    private final int batch;
    private final int size;
    private final int[] codeShape;

    /**
     * @param models RQ-VAE and FID network
     * @param batch images per model call
     * @param size S, the decoded images' side
     * @param codeShape [h, w, D]
     */
    public CodesEvalTask(EvalModels models, int batch, int size, int[] codeShape) {
        this.models = models;
        this.batch = batch;
        this.size = size;
        this.codeShape = codeShape.clone();
    }

    @Override
    public Iterator<Row> call(Iterator<Tuple2<Long, Iterable<CodeItem>>> batches) {
        EvalModels.Loaded m = batches.hasNext() ? models.get() : null;
        return new Iterator<>() {
            private Iterator<Row> current = java.util.Collections.emptyIterator();

            @Override
            public boolean hasNext() {
                while (!current.hasNext() && batches.hasNext()) {
                    current = evaluate(m, batches.next()._2()).iterator();
                }
                return current.hasNext();
            }

            @Override
            public Row next() {
                if (!hasNext()) {
                    throw new java.util.NoSuchElementException();
                }
                return current.next();
            }
        };
    }

    private List<Row> evaluate(EvalModels.Loaded m, Iterable<CodeItem> items) {
        List<CodeItem> list = new ArrayList<>();
        items.forEach(list::add);
        list.sort((a, b) -> Long.compare(a.index(), b.index()));
        if (list.size() > batch) {
            throw new IllegalStateException("a batch of " + list.size() + " images (batch size " + batch + ")");
        }
        int len = codeShape[0] * codeShape[1] * codeShape[2];
        long[] codes = new long[batch * len];
        for (int i = 0; i < batch; i++) {
            int[] c = list.get(Math.min(i, list.size() - 1)).codes(); // pad with the last image
            if (c.length != len) {
                throw new IllegalStateException("row " + list.get(Math.min(i, list.size() - 1)).id() + " has "
                        + c.length + " codes, expected " + len);
            }
            for (int j = 0; j < len; j++) {
                codes[i * len + j] = c[j];
            }
        }
        float[] images = m.decode(codes, batch, codeShape);
        EvalModels.Features f = m.features(images, batch, size, size, true);
        int d = InceptionV3.FEATURES;
        int k = InceptionV3.CLASSES;
        List<Row> out = new ArrayList<>(list.size());
        for (int i = 0; i < list.size(); i++) {
            CodeItem c = list.get(i);
            out.add(RowFactory.create(c.index(), c.split(), c.id(), c.label(), c.sourceShard(), c.sourceRow(), null,
                    null, null, null, EvalTable.floatBytes(f.features(), i * d, d), null,
                    EvalTable.floatBytes(f.logits(), i * k, k)));
        }
        return out;
    }
}
