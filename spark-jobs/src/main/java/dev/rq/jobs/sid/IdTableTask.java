package dev.rq.jobs.sid;

import dev.rq.data.items.InternalRows;
import dev.rq.tables.SidTable;
import dev.rq.tables.TableFiles;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.api.java.function.Function2;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * The last pass of {@code rq assign-sid}, one Spark task per sid range: its rows {@code (item_id,
 * sid, dedup, key)} come sorted by sid (the packed key), then the existing items by their dedup,
 * then the new items (dedup null) by item_id ({@link AssignSidJob#ids}). One pass numbers the new
 * items of each sid after the largest existing dedup of that sid (0, 1, … when it has none), writes
 * the task's part of the ID table (with {@code sid_text}) and of the reverse table (each run of
 * equal sids is one reverse row, items in dedup order) and counts the statistics that need the
 * groups: code histograms per level, distinct sids, collided items, the largest group. No window,
 * cache or further shuffle; the driver sums the {@link Part}s.
 */
final class IdTableTask implements Function2<Integer, Iterator<InternalRow>, Iterator<IdTableTask.Part>> {
    private static final long serialVersionUID = 1L;

    private final TableFiles ids;
    private final TableFiles reverse;
    private final DataType idType;
    private final int[] codebookSizes;
    private final long[] bounds;

    /**
     * @param ids the ID table's writer ({@link SidTable#idSchema})
     * @param reverse the reverse table's writer ({@link #REVERSE_SCHEMA})
     * @param codebookSizes K per level
     * @param bounds the sid ranges' upper bounds ({@link WorkSummary#bounds}) when the driver cut them:
     *     every sid's packed key is checked to lie in this task's range (a sid split over two tasks
     *     would number its items twice); null when Spark's range partitioning cut them
     */
    IdTableTask(TableFiles ids, TableFiles reverse, DataType idType, int[] codebookSizes, long[] bounds) {
        this.ids = ids;
        this.reverse = reverse;
        this.idType = idType;
        this.codebookSizes = codebookSizes;
        this.bounds = bounds;
    }

    /** The reverse table's columns, as Spark's {@code groupBy(sid).agg(collect_list …)} typed them before. */
    static StructType reverseSchema(DataType idType) {
        return DataTypes.createStructType(new StructField[] {
            DataTypes.createStructField(SidTable.SID, DataTypes.createArrayType(DataTypes.IntegerType, false), true),
            DataTypes.createStructField(SidTable.ITEMS, DataTypes.createArrayType(idType, true), false),
            DataTypes.createStructField(SidTable.COUNT, DataTypes.LongType, false)});
    }

    /**
     * What one task wrote and counted.
     *
     * @param ids its ID file (null when its range was empty)
     * @param reverse its reverse file (null when empty)
     * @param histogram [level][code] items
     * @param groups distinct sids
     * @param collided items whose sid is shared
     * @param largest the largest group
     */
    record Part(TableFiles.DataFile ids, TableFiles.DataFile reverse, long[][] histogram, long groups, long collided,
            long largest) implements Serializable {}

    @Override
    public Iterator<Part> call(Integer task, Iterator<InternalRow> rows) throws IOException {
        int depth = codebookSizes.length;
        long[][] hist = new long[depth][];
        for (int d = 0; d < depth; d++) {
            hist[d] = new long[codebookSizes[d]];
        }
        if (!rows.hasNext()) {
            return List.of(new Part(null, null, hist, 0, 0, 0)).iterator();
        }
        TableFiles.Part idf = ids.open(task);
        TableFiles.Part revf = null;
        try {
            revf = reverse.open(task);
            long groups = 0;
            long collided = 0;
            long largest = 0;
            int[] sid = null;
            String prefix = null; // sid_text up to the dedup code
            int next = 0; // the next new item's dedup in this sid
            List<Object> items = new ArrayList<>();
            while (true) {
                InternalRow r = rows.hasNext() ? rows.next() : null;
                int[] s = r == null ? null : r.getArray(1).toIntArray();
                boolean same = sid != null && s != null && Arrays.equals(s, sid);
                if (sid != null && !same) { // a group ends
                    long n = items.size();
                    revf.write(RowFactory.create(sid, new ArrayList<>(items), n));
                    for (int d = 0; d < depth; d++) {
                        hist[d][sid[d]] += n;
                    }
                    groups++;
                    collided += n > 1 ? n : 0;
                    largest = Math.max(largest, n);
                    items.clear();
                }
                if (r == null) {
                    break;
                }
                if (!same) {
                    if (bounds != null && WorkSummary.range(bounds, r.getLong(3)) != task) {
                        throw new IllegalStateException("sid " + Arrays.toString(s) + " (key " + r.getLong(3)
                                + ") reached ID task " + task + ", not the task of its range "
                                + WorkSummary.range(bounds, r.getLong(3)) + ": Spark's hash partitioning changed?");
                    }
                    sid = s;
                    prefix = SidTable.textPrefix(s);
                    next = 0;
                }
                int dedup;
                if (r.isNullAt(2)) { // new: after the existing items of this sid and the new ones before it
                    dedup = next++;
                } else { // existing (sorted by dedup, before the new ones): kept
                    dedup = r.getInt(2);
                    next = Math.max(next, dedup + 1);
                }
                Object id = InternalRows.value(r, 0, idType);
                idf.write(RowFactory.create(id, s, dedup, prefix + dedup + ">"));
                items.add(id);
            }
            return List.of(new Part(idf.publish(), revf.publish(), hist, groups, collided, largest)).iterator();
        } catch (IOException | RuntimeException e) {
            idf.abort();
            if (revf != null) {
                revf.abort();
            }
            throw e;
        }
    }
}
