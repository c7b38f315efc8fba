package dev.rq.data.dataset;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * Cuts the rows of canonical dataset splits, in dataset order (split, shard, row), into Spark
 * tasks of whole model batches. Row {@code i} of that order has the global index {@code i}; a task
 * knows the index of its first row. Because task sizes are multiples of the batch, every batch
 * holds the same images whatever the number of tasks or workers, so per-image model outputs do
 * not depend on them.
 */
public final class RowPlan {

    private RowPlan() {}

    /**
     * One task: consecutive rows.
     *
     * @param firstIndex global index of its first row
     * @param ranges its rows, in order (spanning row groups, shards and splits as needed)
     */
    public record Task(long firstIndex, RowRange[] ranges) implements Serializable {
        /** @return rows of the task */
        public long rows() {
            long n = 0;
            for (RowRange r : ranges) {
                n += r.rows();
            }
            return n;
        }
    }

    /**
     * Reads nothing: the row counts come from the footers that {@link CanonicalDataset#open} read
     * once (on an object store every footer read is a few requests, and a split has hundreds of
     * shards: 150 GB of ImageNet at 256 MB each is ~560).
     *
     * @param dataset the split
     * @param split the split's name
     * @param rel the split's folder name relative to the dataset root (prefix of shard names)
     * @return every non-empty row group of the split as a whole-group range, in dataset order
     */
    public static List<RowRange> rowGroups(CanonicalDataset dataset, String split, String rel) {
        List<RowRange> units = new ArrayList<>();
        DatasetInfo info = dataset.info();
        String version = info.createdAt() + "/" + info.numRows();
        String uri = dataset.splitDir().toString();
        for (int sh = 0; sh < dataset.numShards(); sh++) {
            String shardRel = rel + "/" + info.shards().get(sh).file();
            long groupFirst = 0;
            for (int g = 0; g < dataset.numRowGroups(sh); g++) {
                int groupRows = Math.toIntExact(dataset.rowGroupRows(sh, g));
                if (groupRows > 0) {
                    units.add(new RowRange(split, uri, version, sh, shardRel, g, groupFirst, 0, groupRows));
                }
                groupFirst += groupRows;
            }
        }
        return units;
    }

    /** @return the first {@code limit} rows of {@code ranges} (all when {@code limit <= 0}) */
    public static List<RowRange> head(List<RowRange> ranges, long limit) {
        if (limit <= 0) {
            return ranges;
        }
        List<RowRange> out = new ArrayList<>();
        long left = limit;
        for (RowRange r : ranges) {
            if (left <= 0) {
                break;
            }
            RowRange h = r.head((int) Math.min(left, r.rows()));
            out.add(h);
            left -= h.rows();
        }
        return out;
    }

    /**
     * @return the number of tasks: {@code ceil(rows / rowsPerTask)} when given, else about 4 per
     *     task slot (for balance and retry granularity), each of at least 4 batches and at most
     *     4096 rows
     */
    public static int taskCount(long rows, int parallelism, int perBatch, int rowsPerTask) {
        if (rows == 0) {
            return 1;
        }
        if (rowsPerTask > 0) {
            return (int) ((rows + rowsPerTask - 1) / rowsPerTask);
        }
        long tasks = 4L * parallelism;
        tasks = Math.min(tasks, Math.max(1, rows / (4L * perBatch))); // >= 4 batches each
        tasks = Math.max(tasks, (rows + 4095) / 4096); // <= 4096 rows each
        return (int) Math.max(1, tasks);
    }

    /**
     * Cuts {@code ranges} (in order) into {@code tasks} consecutive runs whose sizes are whole
     * batches of {@code perBatch} rows and differ by at most one batch (the last run takes the
     * remainder).
     */
    public static List<Task> cut(List<RowRange> ranges, int tasks, int perBatch) {
        long total = ranges.stream().mapToLong(RowRange::rows).sum();
        long batches = (total + perBatch - 1) / perBatch;
        tasks = (int) Math.max(1, Math.min(tasks, batches));
        List<Task> out = new ArrayList<>();
        int g = 0;
        int from = ranges.isEmpty() ? 0 : ranges.get(0).from();
        long index = 0;
        for (int t = 0; t < tasks; t++) {
            long size = (batches / tasks + (t < batches % tasks ? 1 : 0)) * perBatch;
            List<RowRange> units = new ArrayList<>();
            long first = index;
            while (size > 0 && g < ranges.size()) {
                RowRange r = ranges.get(g);
                int to = (int) Math.min(r.to(), from + size);
                if (to > from) {
                    units.add(new RowRange(r.split(), r.splitUri(), r.splitVersion(), r.shard(), r.shardRel(),
                            r.rowGroup(), r.groupFirstRow(), from, to));
                    size -= to - from;
                    index += to - from;
                }
                from = to;
                if (from == r.to() && ++g < ranges.size()) {
                    from = ranges.get(g).from();
                }
            }
            if (!units.isEmpty()) {
                out.add(new Task(first, units.toArray(new RowRange[0])));
            }
        }
        if (g < ranges.size()) {
            throw new IllegalStateException("plan left rows unassigned"); // cannot happen: sizes cover all batches
        }
        return out;
    }
}
