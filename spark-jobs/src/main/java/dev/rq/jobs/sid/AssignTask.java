package dev.rq.jobs.sid;

import dev.rq.data.items.InternalRows;
import dev.rq.data.items.ItemInput;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * The encode pass of {@code rq assign-sid}, one Spark task per input split: rows come in as
 * internal rows {@code (id, embedding, [label], reason, detail, source file)} checked for ids and
 * lengths ({@link ItemInput#checked(boolean) ItemInput.checked(false)}); their elements are checked
 * here while they are copied into the batch ({@link InternalRows#copyChecked}); valid rows are
 * encoded in batches of {@code batchSize} by the executor's model ({@link SidCoderHandle}) and
 * leave as {@code (item_id, sid, recon_mse, cosine, [label])}, rejected rows leave with their id,
 * embedding, label, reason, detail and file (the {@link #schema} covers both). Embeddings are copied
 * straight out of Spark's row memory into the batch, and the rows leave in Spark's internal form
 * (no conversion from external rows: {@code sid} is an {@link UnsafeArrayData} of the codes).
 */
final class AssignTask implements FlatMapFunction<Iterator<InternalRow>, InternalRow> {
    private static final long serialVersionUID = 1L;

    static final String RECON_MSE = "recon_mse";
    static final String COSINE = "cosine";
    static final String LABEL = "label";
    static final String REASON = "_reject_reason";
    static final String DETAIL = "_reject_detail";
    static final String SOURCE_FILE = "_source_file";
    static final String EMBEDDING = "embedding";

    private final SidCoderHandle coder;
    private final DataType idType;
    private final DataType embeddingType;
    private final DataType labelType;
    private final int dim;
    private final int depth;
    private final int batchSize;
    private final int reconSample;
    private final TaskTimes times;

    /**
     * Nanoseconds of the encode tasks by part, summed over tasks (Spark accumulators, read on the
     * driver after the pass): {@code read} waiting for input rows (Parquet read and decode, the SQL
     * id and length checks, row conversion), {@code copy} the element checks and copies into the
     * batch, {@code codes} the model's codes (batch into a tensor, encoder, levels, codes out),
     * {@code recon} the sampled reconstructions, {@code rows} building the output rows; {@code
     * total} the tasks' time from their first row to their last (so total minus the parts is the
     * time Spark spent consuming the output rows: the persisted work rows).
     */
    record TaskTimes(org.apache.spark.util.LongAccumulator read, org.apache.spark.util.LongAccumulator copy,
            org.apache.spark.util.LongAccumulator codes, org.apache.spark.util.LongAccumulator recon,
            org.apache.spark.util.LongAccumulator rows, org.apache.spark.util.LongAccumulator total)
            implements java.io.Serializable {
        static TaskTimes register(org.apache.spark.SparkContext sc) {
            return new TaskTimes(sc.longAccumulator("sid.read"), sc.longAccumulator("sid.copy"),
                    sc.longAccumulator("sid.codes"), sc.longAccumulator("sid.recon"), sc.longAccumulator("sid.rows"),
                    sc.longAccumulator("sid.total"));
        }

        /** @return seconds per part, prefixed {@code task.} */
        java.util.Map<String, Double> seconds() {
            java.util.Map<String, Double> m = new java.util.LinkedHashMap<>();
            m.put("task.read", read.value() / 1e9);
            m.put("task.copy", copy.value() / 1e9);
            m.put("task.codes", codes.value() / 1e9);
            m.put("task.recon", recon.value() / 1e9);
            m.put("task.rows", rows.value() / 1e9);
            m.put("task.total", total.value() / 1e9);
            return m;
        }
    }

    /**
     * @param reconSample reconstruct one item in this many for the statistics (chosen by a hash of
     *     the id, so the same items whatever the partitioning)
     */
    AssignTask(SidCoderHandle coder, DataType idType, DataType embeddingType, DataType labelType, int dim, int depth,
            int batchSize, int reconSample, TaskTimes times) {
        this.reconSample = reconSample;
        this.times = times;
        this.coder = coder;
        this.idType = idType;
        this.embeddingType = embeddingType;
        this.labelType = labelType;
        this.dim = dim;
        this.depth = depth;
        this.batchSize = batchSize;
    }

    /** @return whether the item {@code id} is one of the 1-in-{@code every} items reconstructed for the statistics */
    static boolean sampled(Object id, int every) {
        if (every <= 1) {
            return true;
        }
        long h = id instanceof Number n ? n.longValue() : id.hashCode();
        h ^= h >>> 33; // SplitMix64 finaliser: ids in sequence spread evenly
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        return Long.remainderUnsigned(h, every) == 0;
    }

    /** @return column i of r (an integer or string) in Spark's internal form, copied out of the row's memory */
    static Object internal(InternalRow r, int i, DataType t) {
        return t == DataTypes.StringType ? r.getUTF8String(i).clone() : InternalRows.value(r, i, t);
    }

    /** @return the work table schema (valid and rejected rows) */
    static StructType schema(DataType idType, DataType embeddingType, DataType labelType) {
        List<StructField> f = new ArrayList<>();
        f.add(DataTypes.createStructField(dev.rq.tables.SidTable.ITEM_ID, idType, true));
        f.add(DataTypes.createStructField(dev.rq.tables.SidTable.SID, DataTypes.createArrayType(DataTypes.IntegerType, false),
                true));
        f.add(DataTypes.createStructField(RECON_MSE, DataTypes.FloatType, true));
        f.add(DataTypes.createStructField(COSINE, DataTypes.FloatType, true));
        if (labelType != null) {
            f.add(DataTypes.createStructField(LABEL, labelType, true));
        }
        f.add(DataTypes.createStructField(REASON, DataTypes.StringType, true));
        f.add(DataTypes.createStructField(DETAIL, DataTypes.StringType, true));
        f.add(DataTypes.createStructField(SOURCE_FILE, DataTypes.StringType, true));
        f.add(DataTypes.createStructField(EMBEDDING, embeddingType, true));
        return DataTypes.createStructType(f);
    }

    @Override
    public Iterator<InternalRow> call(Iterator<InternalRow> rows) {
        boolean doubles = ((org.apache.spark.sql.types.ArrayType) embeddingType).elementType() == DataTypes.DoubleType;
        int reasonCol = labelType == null ? 2 : 3;
        return new Iterator<>() {
            private final List<InternalRow> out = new ArrayList<>();
            private int next;
            private final float[] x = new float[batchSize * dim];
            private final Object[] ids = new Object[batchSize];
            private final Object[] labels = new Object[batchSize];
            private final boolean[] reconstruct = new boolean[batchSize];

            private final long start = System.nanoTime();
            private boolean done;

            @Override
            public boolean hasNext() {
                while (next == out.size()) {
                    long t = System.nanoTime();
                    boolean more = rows.hasNext(); // may decode the input's next column batch
                    times.read().add(System.nanoTime() - t);
                    if (!more) {
                        if (!done) {
                            done = true;
                            times.total().add(System.nanoTime() - start);
                        }
                        return false;
                    }
                    fill();
                }
                return true;
            }

            @Override
            public InternalRow next() {
                if (!hasNext()) {
                    throw new java.util.NoSuchElementException();
                }
                return out.get(next++);
            }

            /** Reads rows until a batch is full (or the input ends), then encodes it. */
            private void fill() {
                out.clear();
                next = 0;
                int n = 0;
                long tRead = 0;
                long t0 = System.nanoTime();
                while (n < batchSize) {
                    long t = System.nanoTime();
                    InternalRow r = rows.hasNext() ? rows.next() : null;
                    tRead += System.nanoTime() - t;
                    if (r == null) {
                        break;
                    }
                    if (!r.isNullAt(reasonCol)) {
                        out.add(reject(r, r.getUTF8String(reasonCol).toString(),
                                r.isNullAt(reasonCol + 1) ? null : r.getUTF8String(reasonCol + 1).toString(), reasonCol));
                        continue;
                    }
                    String bad = InternalRows.copyChecked(r.getArray(1), dim, doubles, x, n * dim);
                    if (bad != null) {
                        out.add(reject(r, bad, bad.equals(ItemInput.NULL_ELEMENT) ? ItemInput.NULL_ELEMENT_DETAIL
                                : ItemInput.NON_FINITE_DETAIL, reasonCol));
                        continue;
                    }
                    ids[n] = internal(r, 0, idType);
                    labels[n] = labelType == null || r.isNullAt(2) ? null : internal(r, 2, labelType);
                    reconstruct[n] = sampled(ids[n] instanceof UTF8String u ? u.toString() : ids[n], reconSample);
                    n++;
                }
                long t1 = System.nanoTime();
                times.read().add(tRead);
                times.copy().add(t1 - t0 - tRead);
                if (n > 0) {
                    SidCoderHandle.Encoded e = coder.encode(x, n, dim, reconstruct);
                    long t2 = System.nanoTime();
                    times.codes().add(e.codeNanos());
                    times.recon().add(t2 - t1 - e.codeNanos());
                    for (int i = 0; i < n; i++) {
                        int[] sid = new int[depth];
                        for (int d = 0; d < depth; d++) {
                            sid[d] = (int) e.codes()[i * depth + d];
                        }
                        Float mse = reconstruct[i] ? e.mse()[i] : null;
                        Float cos = reconstruct[i] ? e.cosine()[i] : null;
                        Object s = UnsafeArrayData.fromPrimitiveArray(sid);
                        out.add(new GenericInternalRow(labelType == null ? new Object[] {ids[i], s, mse, cos, null, null,
                            null, null} : new Object[] {ids[i], s, mse, cos, labels[i], null, null, null, null}));
                    }
                    times.rows().add(System.nanoTime() - t2);
                }
            }

            private InternalRow reject(InternalRow r, String reason, String detail, int rc) {
                // (a rejected row carries its input values, not codes)
                Object id = r.isNullAt(0) ? null : internal(r, 0, idType);
                Object emb = r.isNullAt(1) ? null : r.getArray(1).copy();
                UTF8String file = r.isNullAt(rc + 2) ? null : r.getUTF8String(rc + 2).clone();
                UTF8String why = UTF8String.fromString(reason);
                UTF8String what = detail == null ? null : UTF8String.fromString(detail);
                if (labelType == null) {
                    return new GenericInternalRow(new Object[] {id, null, null, null, why, what, file, emb});
                }
                Object label = r.isNullAt(2) ? null : internal(r, 2, labelType);
                return new GenericInternalRow(new Object[] {id, null, null, null, label, why, what, file, emb});
            }
        };
    }
}
