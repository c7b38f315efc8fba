package dev.rq.jobs.sid;

import dev.rq.data.items.ItemInput;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.io.HadoopDir;
import dev.rq.jobs.SparkSessions;
import dev.rq.model.config.SidDataConfig;
import dev.rq.model.config.SidModelConfig;
import dev.rq.model.config.SidRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.nn.Tensors;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.sid.SidCheckpoint;
import dev.rq.model.sid.SidInit;
import dev.rq.model.sid.SidModel;
import dev.rq.model.sid.SyntheticItems;
import dev.rq.model.util.Rng;
import dev.rq.tables.SidManifest;
import dev.rq.tables.SidTable;
import java.io.FileInputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code rq assign-sid} on local[2]: ID table, dedup, reverse table, codebooks, counts, incremental runs. */
class AssignSidJobTest {

    private static final int DIM = 16;
    private static final SyntheticItems GEN = new SyntheticItems(4, DIM, 20, 4, 0.25);
    private static SparkSession spark;
    private static Path ckpt;
    private static Path otherCkpt;

    @TempDir static Path shared;
    @TempDir Path tmp;

    @BeforeAll
    static void setUp() throws Exception {
        spark = SparkSessions.getOrCreate("test-assign-sid", 2);
        ckpt = checkpoint(shared.resolve("ckpt"), 1);
        otherCkpt = checkpoint(shared.resolve("other"), 2);
    }

    @AfterAll
    static void tearDown() {
        spark.stop();
        dev.rq.executor.ExecutorModels.clear();
    }

    /** A small k-means-initialised RQ-VAE (D = 2, K = 8: collisions are certain). */
    static Path checkpoint(Path dir, long seed) throws Exception {
        SidModelConfig mc = new SidModelConfig(null, DIM, List.of(12), 6, null, 2, List.of(8), null, null, null, null,
                null);
        SidRunConfig rc = new SidRunConfig(mc, null, null, new SidDataConfig(null, null, "label"));
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager(); SidModel model = SidModel.create(mc, m, seed)) {
            NDArray x = Tensors.of(m, GEN.embeddings(0, 300), new Shape(300, DIM));
            SidInit.kmeans(model, x, 64, 5, Rng.of(seed), Collective.local());
            SidCheckpoint.save(new HadoopDir(dir.toString(), new org.apache.hadoop.conf.Configuration()),
                    model.stateDict(), rc, 0, null, null);
        }
        return dir;
    }

    private AssignSidJob.Result assign(String data, String out, String existing) throws Exception {
        return AssignSidJob.run(spark, new AssignSidJob.Options(ckpt.toString(), data, out, existing, null, null, null, 32, 1, 1));
    }

    @Test
    void writesUniqueIdsReverseTableCodebooksAndReconciledCounts() throws Exception {
        List<Row> rows = new ArrayList<>(SidFixtures.items(GEN, 0, 400, 1000));
        rows.addAll(SidFixtures.badRows(DIM));
        String data = tmp.resolve("items").toString();
        SidFixtures.write(spark, rows, data, 3);
        String out = tmp.resolve("sids").toString();
        SidManifest m = assign(data, out, null).manifest();

        assertThat(m.counts().read()).isEqualTo(406);
        assertThat(m.counts().encoded()).isEqualTo(400);
        assertThat(m.counts().rejected()).isEqualTo(6);
        // element checks run in the encode task (InternalRows.copyChecked), the others in SQL: same reasons
        assertThat(m.counts().rejectedByReason()).containsExactlyInAnyOrderEntriesOf(Map.of(ItemInput.NULL_ID, 1L,
                ItemInput.NULL_EMBEDDING, 1L, ItemInput.WRONG_LENGTH, 1L, ItemInput.NON_FINITE, 2L,
                ItemInput.NULL_ELEMENT, 1L));
        assertThat(m.counts().items()).isEqualTo(400);
        Map<Object, String> details = new HashMap<>();
        for (Row r : spark.read().parquet(out + "/" + SidTable.REJECTS).collectAsList()) {
            details.put(r.get(0), r.getAs(AssignTask.REASON) + ": " + r.getAs(AssignTask.DETAIL));
        }
        assertThat(details).hasSize(6)
                .containsEntry(900003L, "non_finite: " + ItemInput.NON_FINITE_DETAIL)
                .containsEntry(900004L, "non_finite: " + ItemInput.NON_FINITE_DETAIL)
                .containsEntry(900005L, "null_element: " + ItemInput.NULL_ELEMENT_DETAIL)
                .containsEntry(900002L, "wrong_length: length 15, expected 16");
        assertThat(m.collisions().largestGroup()).isGreaterThan(1);
        assertThat(m.statistics().prefixPurity()).hasSize(2);
        assertThat(m.statistics().cosineSimilarity()).isBetween(-1.0, 1.0);
        assertThat(m.statistics().reconstructedItems()).isEqualTo(400); // --recon-sample 1: every encoded item

        // codes are the model's codes, dedup numbers equal codes by item id, text spells both
        List<Row> ids = spark.read().parquet(out + "/" + SidTable.IDS).collectAsList();
        assertThat(ids).hasSize(400);
        Map<List<Integer>, List<Long>> groups = new HashMap<>();
        Set<String> texts = new HashSet<>();
        Map<Long, int[]> codes = codes(ids);
        try (NDManager mm = Engines.newManager()) {
            SidCoderHandle h = new SidCoderHandle(ckpt.toString(),
                    m.model().modelSha256(), 1, new dev.rq.io.SerializableHadoopConf(new org.apache.hadoop.conf.Configuration()));
            float[] x = GEN.embeddings(0, 400);
            boolean[] all = new boolean[400];
            java.util.Arrays.fill(all, true);
            SidCoderHandle.Encoded e = h.encode(x, 400, DIM, all);
            long[] expect = e.codes();
            double mse = 0;
            double cos = 0;
            for (int i = 0; i < 400; i++) {
                mse += e.mse()[i];
                cos += e.cosine()[i];
            }
            // the manifest's means: the encode pass's per-task sums (WorkSummary)
            assertThat(m.statistics().reconstructionMse()).isCloseTo(mse / 400, within(1e-6 * Math.abs(mse / 400)));
            assertThat(m.statistics().cosineSimilarity()).isCloseTo(cos / 400, within(1e-6));
            for (int i = 0; i < 400; i++) {
                assertThat(codes.get(1000L + i)).as("item %d", 1000 + i)
                        .containsExactly((int) expect[2 * i], (int) expect[2 * i + 1]);
            }
        }
        for (Row r : ids) {
            List<Integer> sid = r.getList(1);
            groups.computeIfAbsent(sid, k -> new ArrayList<>()).add(r.getLong(0));
            texts.add(r.getString(3));
            assertThat(r.getString(3)).isEqualTo("<a_" + sid.get(0) + "><b_" + sid.get(1) + "><c_" + r.getInt(2) + ">");
        }
        assertThat(texts).hasSize(400);
        for (Row r : ids) {
            List<Long> g = groups.get(r.<Integer>getList(1));
            g.sort(null);
            assertThat(g.indexOf(r.getLong(0))).as("dedup of %s", r.get(0)).isEqualTo(r.getInt(2));
        }
        assertThat(m.collisions().uniqueSids()).isEqualTo(groups.size());

        // columns of unique values are written without a dictionary, the others keep theirs
        var hconf = new org.apache.hadoop.conf.Configuration();
        for (String table : List.of(SidTable.IDS, SidTable.REVERSE)) {
            java.io.File[] files = Path.of(out, table).toFile().listFiles((d, n) -> n.endsWith(".parquet"));
            try (var r = org.apache.parquet.hadoop.ParquetFileReader.open(org.apache.parquet.hadoop.util.HadoopInputFile
                    .fromPath(new org.apache.hadoop.fs.Path(files[0].toString()), hconf))) {
                Map<String, Boolean> dictionary = new HashMap<>();
                r.getFooter().getBlocks().get(0).getColumns()
                        .forEach(c -> dictionary.put(c.getPath().toDotString(), c.hasDictionaryPage()));
                if (table.equals(SidTable.IDS)) {
                    assertThat(dictionary).containsEntry("item_id", false).containsEntry("sid_text", false)
                            .containsEntry("dedup", true);
                } else {
                    assertThat(dictionary).containsEntry("items.list.element", false)
                            .containsEntry("sid.list.element", true);
                }
            }
        }

        // reverse table: one row per sid, items at their dedup index, sorted by sid
        List<Row> rev = spark.read().parquet(out + "/" + SidTable.REVERSE).collectAsList();
        assertThat(rev).hasSize(groups.size());
        for (Row r : rev) {
            List<Long> items = r.getList(1);
            List<Long> g = groups.get(r.<Integer>getList(0));
            assertThat(items).containsExactlyElementsOf(g);
            assertThat(r.getLong(2)).isEqualTo(g.size());
        }

        // codebooks next to the table
        try (FileInputStream in = new FileInputStream(Path.of(out, SidTable.CODEBOOKS).toFile())) {
            var t = SafeTensors.read(in).tensors();
            assertThat(t.keySet()).containsExactly("codebooks.0", "codebooks.1");
            assertThat(t.get("codebooks.1").shape()).containsExactly(8, 6);
        }
        assertThat(m.codebooks().shapes()).containsExactly(List.of(8, 6), List.of(8, 6));
    }

    @Test
    void incrementalRunKeepsEveryExistingIdAndNumbersNewItemsAfterThem() throws Exception {
        String first = tmp.resolve("first").toString();
        SidFixtures.write(spark, SidFixtures.items(GEN, 0, 200, 0), first, 2);
        String a = tmp.resolve("a").toString();
        assign(first, a, null);
        String second = tmp.resolve("second").toString();
        SidFixtures.write(spark, SidFixtures.items(GEN, 100, 200, 0), second, 2); // 100 old, 100 new
        String b = tmp.resolve("b").toString();
        SidManifest m = assign(second, b, a).manifest();
        assertThat(m.counts().existingKept()).isEqualTo(200);
        assertThat(m.counts().existingReencoded()).isEqualTo(100);
        assertThat(m.counts().existingChanged()).isZero();
        assertThat(m.counts().assigned()).isEqualTo(100);
        assertThat(m.counts().items()).isEqualTo(300);

        Map<Long, Row> before = byId(spark.read().parquet(a + "/" + SidTable.IDS).collectAsList());
        Map<Long, Row> after = byId(spark.read().parquet(b + "/" + SidTable.IDS).collectAsList());
        assertThat(after).hasSize(300);
        Map<List<Integer>, Integer> maxOld = new HashMap<>();
        before.forEach((id, r) -> {
            assertThat(after.get(id)).as("existing item %d", id).isEqualTo(r);
            maxOld.merge(r.getList(1), r.getInt(2), Math::max);
        });
        Set<String> texts = new HashSet<>();
        after.values().forEach(r -> texts.add(r.getString(3)));
        assertThat(texts).as("IDs stay unique").hasSize(300);
        for (long id = 200; id < 300; id++) {
            Row r = after.get(id);
            Integer old = maxOld.get(r.<Integer>getList(1));
            if (old != null) {
                assertThat(r.getInt(2)).as("new item %d after the existing ones", id).isGreaterThan(old);
            }
        }
        // the same inputs again give the same table (deterministic), also when replacing a table in place
        String c = tmp.resolve("c").toString();
        assign(second, c, a);
        assertThat(byId(spark.read().parquet(c + "/" + SidTable.IDS).collectAsList())).isEqualTo(after);
        SidManifest again = assign(second, b, a).manifest();
        assertThat(again.files().ids()).allMatch(f -> f.path().contains("-")); // replaced: names carry the commit
        assertThat(byId(spark.read().parquet(b + "/" + SidTable.IDS).collectAsList())).isEqualTo(after);
        assertThat(Path.of(b, again.codebooks().file())).exists();
        try (var files = java.nio.file.Files.list(Path.of(b, SidTable.IDS))) {
            assertThat(files.filter(f -> f.toString().endsWith(".parquet")).count())
                    .as("the replaced table's files are gone").isEqualTo(again.files().ids().size());
        }

        // another model cannot extend this table
        assertThatThrownBy(() -> AssignSidJob.run(spark, new AssignSidJob.Options(otherCkpt.toString(), second,
                tmp.resolve("d").toString(), a, null, null, null, 32, 1, 1))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("new IDs must come from the same model");
        assertThat(tmp.resolve("d")).doesNotExist();

        // nor the same model in another precision (bf16 changes some codes)
        if (dev.rq.model.engine.Precision.cpuHasBf16()) {
            assertThatThrownBy(() -> AssignSidJob.run(spark, new AssignSidJob.Options(ckpt.toString(), second,
                    tmp.resolve("e").toString(), a, null, null, null, 32, 1, 1, dev.rq.model.engine.Precision.BF16)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("was assigned with --precision fp32, this run computes in bf16");
            assertThat(tmp.resolve("e")).doesNotExist();
        } else {
            System.out.println("AssignSidJobTest: this CPU has no bfloat16 units: the precision check is not run");
        }
    }

    @Test
    void duplicateIdsFailNamingThemAndLeaveNothing() {
        List<Row> rows = new ArrayList<>(SidFixtures.items(GEN, 0, 30, 0));
        rows.addAll(SidFixtures.items(GEN, 12, 1, 0));
        String data = tmp.resolve("dups").toString();
        SidFixtures.write(spark, rows, data, 2);
        String out = tmp.resolve("out").toString();
        assertThatThrownBy(() -> assign(data, out, null)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("duplicate item id").hasMessageContaining("12 (2 rows)");
        assertThat(tmp.resolve("out")).doesNotExist();
        assertThat(tmp.toFile().list()).allMatch(n -> !n.contains(".tmp-"));

        // copies with other embeddings (so other sids) count too; the five smallest are named, in id order
        List<Row> many = new ArrayList<>(SidFixtures.items(GEN, 0, 40, 0));
        many.addAll(SidFixtures.items(GEN, 100, 7, -70)); // ids 30..36 again, embeddings of items 100..106
        many.addAll(SidFixtures.items(GEN, 200, 1, -169)); // id 31 a third time
        String data2 = tmp.resolve("dups2").toString();
        SidFixtures.write(spark, many, data2, 3);
        assertThatThrownBy(() -> assign(data2, tmp.resolve("out2").toString(), null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(": 30 (2 rows), 31 (3 rows), 32 (2 rows), 33 (2 rows), 34 (2 rows), ...;");
        assertThat(tmp.resolve("out2")).doesNotExist();
    }

    /**
     * The ID-table pass over several sid ranges cut by the driver (the job cuts several from 50,000
     * items per task slot): the ranges' bounds from a key sample ({@link WorkSummary#bounds}), the
     * rows sent to their range's partition by Spark's hash partitioning ({@link AssignSidJob#hashedTo}),
     * each range's ID and reverse rows written by its task: every item's dedup is its position among
     * its sid's items by id, the reverse files hold consecutive sid ranges in order; an ID task given
     * other bounds than those the rows were partitioned by fails naming the sid.
     */
    @Test
    void idTablePassOverSeveralDriverCutRanges() throws Exception {
        int[] sizes = {8, 8};
        java.util.Random rnd = new java.util.Random(7);
        List<Row> rows = new ArrayList<>();
        long[] keys = new long[3000];
        Map<List<Integer>, List<Long>> groups = new java.util.TreeMap<>((a, b) -> a.get(0).equals(b.get(0))
                ? Integer.compare(a.get(1), b.get(1)) : Integer.compare(a.get(0), b.get(0)));
        for (int i = 0; i < 3000; i++) {
            int c0 = Math.min(7, (int) Math.abs(rnd.nextGaussian() * 2.5)); // skewed towards code 0
            int c1 = rnd.nextInt(8);
            long id = 5000 - i * 7L % 4999 + i * 10_000L; // ids not in row order
            rows.add(org.apache.spark.sql.RowFactory.create(id, new int[] {c0, c1}));
            keys[i] = ((long) c0 << 3) | c1; // AssignSidJob.sidKey: 3 bits per level, level 0 high
            groups.computeIfAbsent(List.of(c0, c1), k -> new ArrayList<>()).add(id);
        }
        groups.values().forEach(g -> g.sort(null));
        org.apache.spark.sql.types.StructType schema = org.apache.spark.sql.types.DataTypes.createStructType(List.of(
                org.apache.spark.sql.types.DataTypes.createStructField(SidTable.ITEM_ID,
                        org.apache.spark.sql.types.DataTypes.LongType, false),
                org.apache.spark.sql.types.DataTypes.createStructField(SidTable.SID,
                        org.apache.spark.sql.types.DataTypes.createArrayType(
                                org.apache.spark.sql.types.DataTypes.IntegerType, false), false)));
        var valid = spark.createDataFrame(rows, schema).repartition(3);
        List<WorkSummary.Part> sample = List.of(
                new WorkSummary.Part(2000, new java.util.TreeMap<>(), 0, 0, 0, java.util.Arrays.copyOf(keys, 200)),
                new WorkSummary.Part(1000, new java.util.TreeMap<>(), 0, 0, 0,
                        java.util.Arrays.copyOfRange(keys, 2000, 2100)));
        long[] bounds = WorkSummary.bounds(sample, 4);
        assertThat(bounds).hasSize(3).isSorted();
        var conf = spark.sparkContext().hadoopConfiguration();
        var ids = AssignSidJob.ids(spark, valid, null, sizes, 4, bounds);
        List<IdTableTask.Part> parts;
        String out = tmp.resolve("ranges").toString();
        try (dev.rq.io.StagedOutput o = dev.rq.io.StagedOutput.begin(out, conf, AssignSidJob.OUTPUT)) {
            IdTableTask task = new IdTableTask(
                    dev.rq.tables.TableFiles.of(o, SidTable.IDS, SidTable.idSchema(
                            org.apache.spark.sql.types.DataTypes.LongType), conf),
                    dev.rq.tables.TableFiles.of(o, SidTable.REVERSE, IdTableTask.reverseSchema(
                            org.apache.spark.sql.types.DataTypes.LongType), conf),
                    org.apache.spark.sql.types.DataTypes.LongType, sizes, bounds);
            parts = ids.queryExecution().toRdd().toJavaRDD().mapPartitionsWithIndex(task, false).collect();
            List<String> files = new ArrayList<>();
            parts.forEach(p -> {
                files.add(p.ids().path());
                files.add(p.reverse().path());
            });
            o.commit(files, "{}".getBytes(java.nio.charset.StandardCharsets.UTF_8));

            // other bounds than the partitioning's: the task whose rows are not its range's fails
            long[] shifted = bounds.clone();
            shifted[0] = shifted[0] - 1;
            IdTableTask wrong = new IdTableTask(dev.rq.tables.TableFiles.of(o, "wrong-ids", SidTable.idSchema(
                    org.apache.spark.sql.types.DataTypes.LongType), conf), dev.rq.tables.TableFiles.of(o, "wrong-rev",
                    IdTableTask.reverseSchema(org.apache.spark.sql.types.DataTypes.LongType), conf),
                    org.apache.spark.sql.types.DataTypes.LongType, sizes, shifted);
            assertThatThrownBy(() -> ids.queryExecution().toRdd().toJavaRDD().mapPartitionsWithIndex(wrong, false)
                    .collect()).hasMessageContaining("reached ID task 0, not the task of its range 1");
        }
        assertThat(parts).hasSize(4).allMatch(p -> p.ids() != null && p.ids().rows() > 300);
        int rowsSeen = 0;
        List<Integer> previous = null;
        for (int p = 0; p < parts.size(); p++) {
            for (Row r : spark.read().parquet(out + "/" + parts.get(p).ids().path()).collectAsList()) {
                List<Integer> sid = r.getList(1);
                long key = ((long) sid.get(0) << 3) | sid.get(1);
                assertThat(WorkSummary.range(bounds, key)).as("range of %s", sid).isEqualTo(p);
                assertThat(r.getInt(2)).as("dedup of %s", r.get(0)).isEqualTo(groups.get(sid).indexOf(r.getLong(0)));
                assertThat(r.getString(3)).isEqualTo("<a_" + sid.get(0) + "><b_" + sid.get(1) + "><c_" + r.getInt(2) + ">");
                rowsSeen++;
            }
            List<Row> rev = spark.read().parquet(out + "/" + parts.get(p).reverse().path()).collectAsList();
            for (Row r : rev) { // in sid order within the file and across the files
                List<Integer> sid = r.getList(0);
                if (previous != null) {
                    assertThat(previous.get(0) < sid.get(0) || previous.get(0).equals(sid.get(0))
                            && previous.get(1) < sid.get(1)).as("%s after %s", sid, previous).isTrue();
                }
                previous = sid;
                assertThat(r.<Long>getList(1)).containsExactlyElementsOf(groups.get(sid));
                assertThat(r.getLong(2)).isEqualTo(groups.get(sid).size());
            }
        }
        assertThat(rowsSeen).isEqualTo(3000);
        assertThat(parts.stream().mapToLong(IdTableTask.Part::groups).sum()).isEqualTo(groups.size());
    }

    /** The range bounds: Spark's weighted quantiles of the key sample, a repeated key cut once. */
    @Test
    void rangeBoundsFromTheKeySample() {
        long[] keys = new long[100];
        for (int i = 0; i < 100; i++) {
            keys[i] = i;
        }
        var tm = new java.util.TreeMap<String, Long>();
        // part 0: 100 rows sampled fully; part 1: 300 rows, its 100 sampled keys weigh 3 each
        long[] bounds = WorkSummary.bounds(List.of(new WorkSummary.Part(100, tm, 0, 0, 0, keys),
                new WorkSummary.Part(300, tm, 0, 0, 0, java.util.stream.LongStream.range(100, 200).toArray())), 4);
        assertThat(bounds).containsExactly(99, 133, 166); // 100 rows per range: keys 0..99 weigh 1, the rest 3
        assertThat(WorkSummary.range(bounds, 99)).isEqualTo(0);
        assertThat(WorkSummary.range(bounds, 100)).isEqualTo(1);
        assertThat(WorkSummary.range(bounds, 10_000)).isEqualTo(3);
        long[] same = new long[50];
        java.util.Arrays.fill(same, 42);
        assertThat(WorkSummary.bounds(List.of(new WorkSummary.Part(50, tm, 0, 0, 0, same)), 4)).containsExactly(42);
        assertThat(WorkSummary.bounds(List.of(new WorkSummary.Part(0, tm, 0, 0, 0, new long[0])), 4)).isEmpty();
        int[] to = AssignSidJob.hashedTo(7);
        for (int p = 0; p < 7; p++) {
            assertThat(Math.floorMod(org.apache.spark.unsafe.hash.Murmur3_x86_32.hashInt(to[p], 42), 7)).isEqualTo(p);
        }
    }

    /**
     * String ids: dedup numbers equal codes in Spark's string order (UTF-8 bytes: "Z" < "a" < "é"),
     * the reverse rows list them in that order, and a duplicate string id is named.
     */
    @Test
    void stringIdsAreNumberedInSparkStringOrder() throws Exception {
        org.apache.spark.sql.types.StructType schema = org.apache.spark.sql.types.DataTypes.createStructType(List.of(
                org.apache.spark.sql.types.DataTypes.createStructField("item_id",
                        org.apache.spark.sql.types.DataTypes.StringType, true),
                SidFixtures.SCHEMA.fields()[1], SidFixtures.SCHEMA.fields()[2]));
        String[] prefixes = {"a", "Z", "\u00e9", "b"};
        List<Row> rows = new ArrayList<>();
        for (Row r : SidFixtures.items(GEN, 0, 200, 0)) {
            long i = r.getLong(0);
            rows.add(org.apache.spark.sql.RowFactory.create(prefixes[(int) (i % 4)] + "-" + i, r.get(1), r.get(2)));
        }
        String data = tmp.resolve("strings").toString();
        spark.createDataFrame(rows, schema).repartition(3).write().parquet(data);
        String out = tmp.resolve("string-sids").toString();
        SidManifest m = assign(data, out, null).manifest();
        assertThat(m.counts().items()).isEqualTo(200);
        Map<List<Integer>, List<String>> groups = new HashMap<>();
        List<Row> ids = spark.read().parquet(out + "/" + SidTable.IDS).collectAsList();
        for (Row r : ids) {
            groups.computeIfAbsent(r.getList(1), k -> new ArrayList<>()).add(r.getString(0));
        }
        java.util.Comparator<String> bytes = (x, y) -> java.util.Arrays.compareUnsigned(
                x.getBytes(java.nio.charset.StandardCharsets.UTF_8), y.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        groups.values().forEach(g -> g.sort(bytes));
        for (Row r : ids) {
            assertThat(groups.get(r.<Integer>getList(1)).indexOf(r.getString(0))).as("dedup of %s", r.get(0))
                    .isEqualTo(r.getInt(2));
        }
        List<Row> rev = spark.read().parquet(out + "/" + SidTable.REVERSE).collectAsList();
        assertThat(rev).hasSize(groups.size());
        for (Row r : rev) {
            assertThat(r.<String>getList(1)).containsExactlyElementsOf(groups.get(r.<Integer>getList(0)));
        }
        assertThat(m.collisions().uniqueSids()).isEqualTo(groups.size());

        rows.add(rows.get(7)); // item 7 again: id "b-7"
        String dup = tmp.resolve("string-dups").toString();
        spark.createDataFrame(rows, schema).repartition(2).write().parquet(dup);
        assertThatThrownBy(() -> assign(dup, tmp.resolve("string-out").toString(), null))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(": b-7 (2 rows);");
    }

    private static Map<Long, int[]> codes(List<Row> ids) {
        Map<Long, int[]> out = new HashMap<>();
        for (Row r : ids) {
            List<Integer> s = r.getList(1);
            out.put(r.getLong(0), s.stream().mapToInt(Integer::intValue).toArray());
        }
        return out;
    }

    private static Map<Long, Row> byId(List<Row> rows) {
        Map<Long, Row> out = new HashMap<>();
        rows.forEach(r -> out.put(r.getLong(0), r));
        return out;
    }
}
