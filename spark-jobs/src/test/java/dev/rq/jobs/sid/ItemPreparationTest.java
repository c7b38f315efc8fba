package dev.rq.jobs.sid;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rq.data.items.ItemBatches;
import dev.rq.data.items.ItemInput;
import dev.rq.data.items.ItemPreparation;
import dev.rq.data.items.PreparedItems;
import dev.rq.data.loader.Cursor;
import dev.rq.jobs.SparkSessions;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.SidDataConfig;
import dev.rq.model.sid.SyntheticItems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Preparing item tables (checks, rejects, counts) and streaming batches from them, on local[2]. */
class ItemPreparationTest {

    private static SparkSession spark;
    private static final int DIM = 16;
    private static final SyntheticItems GEN = new SyntheticItems(1, DIM, 12, 3, 0.2);

    @TempDir Path tmp;

    @BeforeAll
    static void start() {
        spark = SparkSessions.getOrCreate("test-sid-prepare", 2);
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    @Test
    void rejectsBadRowsWithReasonsAndReconciles() throws Exception {
        List<Row> rows = new ArrayList<>(SidFixtures.items(GEN, 0, 300, 0));
        rows.addAll(SidFixtures.badRows(DIM));
        String in = tmp.resolve("items").toString();
        SidFixtures.write(spark, rows, in, 3);
        String dir = tmp.resolve("prepared").toString();
        SidDataConfig cols = new SidDataConfig(null, null, "label");
        PreparedItems.Manifest m = ItemPreparation.run(spark, in, cols, DIM, dir);
        assertThat(m.read()).isEqualTo(306);
        assertThat(m.accepted()).isEqualTo(300);
        assertThat(m.rejected()).isEqualTo(6);
        assertThat(m.rejectedByReason()).containsExactlyInAnyOrderEntriesOf(Map.of(ItemInput.NULL_ID, 1L,
                ItemInput.NULL_EMBEDDING, 1L, ItemInput.WRONG_LENGTH, 1L, ItemInput.NON_FINITE, 2L,
                ItemInput.NULL_ELEMENT, 1L));
        Map<Object, String> reasons = new HashMap<>();
        assertThat(m.rejectFiles()).isNotEmpty();
        for (Row r : spark.read().parquet(dir + "/_rejects").collectAsList()) {
            reasons.put(r.getAs("item_id"), r.getAs(ItemInput.REASON) + ": " + r.getAs(ItemInput.DETAIL));
        }
        assertThat(reasons).containsEntry(900002L, "wrong_length: length 15, expected 16")
                .containsEntry(900003L, "non_finite: an element is NaN, infinite or beyond the float32 range")
                .containsKey(null);

        // the prepared copy holds every valid embedding exactly, in some fixed order
        PreparedItems p = PreparedItems.open(dir, new Configuration());
        assertThat(p.numRows()).isEqualTo(300);
        List<Row> ids = spark.read().parquet(dir + "/data").select("item_id").collectAsList();
        long[] all = new long[300];
        for (int i = 0; i < 300; i++) {
            all[i] = i;
        }
        float[] got = p.readRows(all);
        float[] expect = new float[DIM];
        // file order is Spark's; match by id through the prepared id column read in the same order
        List<Long> order = new ArrayList<>();
        for (String f : p.manifest().files().stream().map(PreparedItems.FileEntry::file).toList()) {
            spark.read().parquet(dir + "/" + f).select("item_id").collectAsList().forEach(r -> order.add(r.getLong(0)));
        }
        assertThat(ids).hasSize(300);
        for (int i = 0; i < 300; i++) {
            GEN.embedding(order.get(i), expect, 0);
            assertThat(Arrays.copyOfRange(got, i * DIM, (i + 1) * DIM)).as("row %d (id %d)", i, order.get(i))
                    .containsExactly(expect);
        }

        // rerunning reuses the preparation
        long before = Files.getLastModifiedTime(Path.of(dir, PreparedItems.MANIFEST)).toMillis();
        assertThat(ItemPreparation.run(spark, in, cols, DIM, dir).created()).isEqualTo(m.created());
        assertThat(Files.getLastModifiedTime(Path.of(dir, PreparedItems.MANIFEST)).toMillis()).isEqualTo(before);
    }

    @Test
    void duplicateIdsAndMissingColumnsFailNamingThem() {
        List<Row> rows = new ArrayList<>(SidFixtures.items(GEN, 0, 50, 0));
        rows.addAll(SidFixtures.items(GEN, 7, 1, 0)); // id 7 twice
        String in = tmp.resolve("dups").toString();
        SidFixtures.write(spark, rows, in, 2);
        assertThatThrownBy(() -> ItemPreparation.run(spark, in, SidDataConfig.defaults(), DIM,
                tmp.resolve("p1").toString())).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("duplicate item id").hasMessageContaining("7 (2 rows)");
        assertThat(tmp.resolve("p1")).as("a failed preparation leaves nothing").doesNotExist();
        assertThatThrownBy(() -> ItemPreparation.run(spark, in, new SidDataConfig("id", null, null), DIM,
                tmp.resolve("p2").toString())).isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("data.id_column: the item table").hasMessageContaining("no column 'id'");
    }

    /** Two ranks' slices concatenate to the one-rank batch; an epoch visits each row at most once; resume. */
    @Test
    void batchesAreRankIndependentAndResumable() throws Exception {
        String in = tmp.resolve("items").toString();
        SidFixtures.write(spark, SidFixtures.items(GEN, 0, 997, 0), in, 3);
        String dir = tmp.resolve("prepared").toString();
        ItemPreparation.run(spark, in, SidDataConfig.defaults(), DIM, dir);
        Configuration conf = new Configuration();
        PreparedItems p = PreparedItems.open(dir, conf);
        int batch = 64;
        try (ItemBatches one = ItemBatches.open(p, batch, 0, 1, 5, 2, Cursor.start());
                ItemBatches r0 = ItemBatches.open(p, batch, 0, 2, 5, 2, Cursor.start());
                ItemBatches r1 = ItemBatches.open(p, batch, 1, 2, 5, 2, Cursor.start())) {
            assertThat(one.stepsPerEpoch()).isEqualTo(997 / 64);
            Set<Long> seen = new HashSet<>();
            for (int s = 0; s < one.stepsPerEpoch(); s++) {
                ItemBatches.ItemBatch a = one.next();
                ItemBatches.ItemBatch b0 = r0.next();
                ItemBatches.ItemBatch b1 = r1.next();
                float[] both = Arrays.copyOf(b0.x(), batch * DIM);
                System.arraycopy(b1.x(), 0, both, batch / 2 * DIM, batch / 2 * DIM);
                assertThat(both).as("step %d", s).containsExactly(a.x());
                for (long i : a.indices()) {
                    assertThat(seen.add(i)).as("row %d twice in epoch 0", i).isTrue();
                }
            }
            ItemBatches.ItemBatch e1 = one.next();
            assertThat(e1.cursor()).isEqualTo(new Cursor(1, 0));
            // resuming at a cursor gives the same batches
            Cursor at = one.cursor();
            ItemBatches.ItemBatch cont = one.next();
            try (ItemBatches resumed = ItemBatches.open(p, batch, 0, 1, 5, 2, at)) {
                assertThat(resumed.next().x()).containsExactly(cont.x());
            }
            // another epoch is another order
            assertThat(e1.indices()).isNotEqualTo(Arrays.copyOf(seen.stream().mapToLong(Long::longValue).toArray(), 64));
        }
    }
}
