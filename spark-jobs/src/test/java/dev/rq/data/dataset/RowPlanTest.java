package dev.rq.data.dataset;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link RowPlan#cut} and {@link RowPlan#taskCount}: balanced, batch-aligned, complete, indexed in order;
 * {@link RowPlan#rowGroups} from the footers the dataset already read.
 */
class RowPlanTest {

    private static RowRange group(String split, int shard, int g, long first, int rows) {
        return new RowRange(split, "file:/d/" + split, "v", shard, split + "/s" + shard, g, first, 0, rows);
    }

    @Test
    void everyRowOnceInOrderInBalancedWholeBatchTasks() {
        // emoji-like: train one row group of 1720, validation one of 186; plus odd small groups
        List<RowRange> groups = List.of(group("train", 0, 0, 0, 1000), group("train", 0, 1, 1000, 720),
                group("train", 1, 0, 0, 3), group("validation", 0, 0, 0, 186));
        int total = 1000 + 720 + 3 + 186;
        for (int tasks : new int[] {1, 2, 7, 8, 9, 64, 500}) {
            List<RowPlan.Task> plan = RowPlan.cut(groups, tasks, 16);
            List<String> rows = new ArrayList<>();
            List<Integer> sizes = new ArrayList<>();
            for (RowPlan.Task t : plan) {
                assertThat(t.firstIndex()).as("first index of a task").isEqualTo(rows.size());
                int n = 0;
                for (RowRange u : t.ranges()) {
                    assertThat(u.from()).isLessThan(u.to());
                    for (int r = u.from(); r < u.to(); r++) {
                        rows.add(u.shardRel() + ":" + (u.groupFirstRow() + r));
                    }
                    n += u.rows();
                }
                sizes.add(n);
            }
            List<String> want = new ArrayList<>();
            for (RowRange g : groups) {
                for (int r = 0; r < g.rows(); r++) {
                    want.add(g.shardRel() + ":" + (g.groupFirstRow() + r));
                }
            }
            assertThat(rows).as("%d tasks", tasks).containsExactlyElementsOf(want);
            assertThat(plan).hasSize(Math.min(tasks, (total + 15) / 16));
            for (int i = 0; i < sizes.size() - 1; i++) {
                assertThat(sizes.get(i) % 16).as("task %d of %d is whole batches", i, tasks).isZero();
            }
            int max = sizes.stream().mapToInt(Integer::intValue).max().orElseThrow();
            int min = sizes.subList(0, sizes.size() - 1).stream().mapToInt(Integer::intValue).min().orElse(max);
            assertThat(max - min).as("balance of %s", sizes).isLessThanOrEqualTo(16);
        }
    }

    @Test
    void headKeepsTheFirstRowsInOrder() {
        List<RowRange> groups = List.of(group("val", 0, 0, 0, 10), group("val", 0, 1, 10, 7), group("val", 1, 0, 0, 5));
        List<RowRange> h = RowPlan.head(groups, 12);
        assertThat(h).hasSize(2);
        assertThat(h.get(0).rows()).isEqualTo(10);
        assertThat(h.get(1).rowGroup()).isEqualTo(1);
        assertThat(h.get(1).rows()).isEqualTo(2);
        assertThat(RowPlan.head(groups, 0)).isEqualTo(groups);
        assertThat(RowPlan.head(groups, 100).stream().mapToInt(RowRange::rows).sum()).isEqualTo(22);
    }

    @Test
    void taskCountFollowsSlotsAndLimits() {
        assertThat(RowPlan.taskCount(1906, 2, 16, 0)).isEqualTo(8); // 4 per slot
        assertThat(RowPlan.taskCount(100, 2, 16, 0)).isEqualTo(1); // at least 4 batches per task
        assertThat(RowPlan.taskCount(1_281_167, 8, 16, 0)).isEqualTo(313); // at most 4096 images per task
        assertThat(RowPlan.taskCount(1906, 2, 16, 500)).isEqualTo(4); // --rows-per-task
        assertThat(RowPlan.taskCount(0, 2, 16, 0)).isEqualTo(1);
    }

    /** Planning reads no shard again (an object-store split has hundreds): the shard may be gone by then. */
    @Test
    void rowGroupsComeFromTheFootersReadAtOpen(@TempDir Path tmp) throws IOException {
        Path src = Path.of(System.getProperty("rq.repo.dir", "..")).toAbsolutePath().normalize()
                .resolve("data/emoji/validation");
        Path split = Files.createDirectories(tmp.resolve("validation"));
        List<Path> shards = new ArrayList<>();
        try (var files = Files.list(src)) {
            for (Path f : files.toList()) {
                Files.copy(f, split.resolve(f.getFileName()));
                if (f.getFileName().toString().endsWith(".parquet")) {
                    shards.add(split.resolve(f.getFileName()));
                }
            }
        }
        CanonicalDataset d = CanonicalDataset.open(split.toString(), new Configuration());
        for (Path p : shards) {
            Files.delete(p); // before: rowGroups opened every shard's footer again (FileNotFoundException)
        }
        List<RowRange> groups = RowPlan.rowGroups(d, "validation", "validation");
        assertThat(groups.stream().mapToLong(RowRange::rows).sum()).isEqualTo(d.numRows()).isEqualTo(186);
        int k = 0;
        for (int sh = 0; sh < d.numShards(); sh++) {
            long first = 0;
            for (int g = 0; g < d.numRowGroups(sh); g++) {
                RowRange r = groups.get(k++);
                assertThat(r.shardRel()).isEqualTo("validation/" + d.info().shards().get(sh).file());
                assertThat(r.rowGroup()).isEqualTo(g);
                assertThat(r.groupFirstRow()).isEqualTo(first);
                assertThat(r.from()).isZero();
                first += r.rows();
            }
        }
        assertThat(groups).hasSize(k);
    }
}
