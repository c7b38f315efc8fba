package dev.rq.jobs.ingest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rq.data.TestImages;
import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.dataset.DatasetInfo;
import dev.rq.data.dataset.DatasetLayout;
import dev.rq.data.ingest.ImageFolderListing;
import dev.rq.io.FileListing;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.spark.HashPartitioner;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The ingest job on a real local[2] SparkSession (UI off, driver on 127.0.0.1). */
class IngestJobTest {
    private static SparkSession spark;

    @TempDir Path tmp;

    @BeforeAll
    static void startSpark() {
        spark = SparkSession.builder()
                .master("local[2]")
                .appName("IngestJobTest")
                .config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                // as in production (SparkSessions): an unregistered class fails here, not on a cluster
                .config("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .config("spark.kryo.registrationRequired", "true")
                .config("spark.kryo.registrator", "dev.rq.jobs.RqKryoRegistrator")
                .config("spark.sql.shuffle.partitions", "4")
                .getOrCreate();
    }

    @AfterAll
    static void stopSpark() {
        spark.stop();
    }

    private static void write(Path p, byte[] b) throws Exception {
        Files.createDirectories(p.getParent());
        Files.write(p, b);
    }

    private Map<String, Long> rejectsByReason(String splitDir) {
        Dataset<Row> r = spark.read().parquet(splitDir + "/" + DatasetLayout.REJECTS_DIR);
        Map<String, Long> m = new HashMap<>();
        for (Row row : r.groupBy("reason").count().collectAsList()) {
            m.put(row.getString(0), row.getLong(1));
        }
        return m;
    }

    @Test
    void imageFolderWithBrokenFilesAccountsForEveryFile() throws Exception {
        Path in = tmp.resolve("in");
        byte[] catJpg = TestImages.jpeg(TestImages.gradient(48, 32, 1), 0.9f, false);
        write(in.resolve("cat/a.jpg"), catJpg);
        write(in.resolve("cat/B.JPG"), TestImages.jpeg(TestImages.gradient(40, 40, 2), 0.9f, true));
        write(in.resolve("cat/png-named.JPEG"),
                TestImages.encode(TestImages.solid(8, 8, 0x00FF00), "png"));
        write(in.resolve("cat/nested/deep.png"),
                TestImages.encode(TestImages.solid(8, 8, 0x0000FF), "png"));
        write(in.resolve("cat/cmyk.jpg"), TestImages.withAdobeMarker(
                TestImages.fourComponentJpeg(16, 16, new int[] {255, 0, 0, 255}), 0));
        write(in.resolve("dog/d.bmp"), TestImages.encode(TestImages.solid(9, 7, 0xFF0000), "bmp"));
        write(in.resolve("dog/d.gif"), TestImages.encode(TestImages.solid(9, 7, 0xFF0000), "gif"));
        byte[] noiseJpg = TestImages.jpeg(TestImages.noise(64, 64, 3), 0.9f, false);
        write(in.resolve("dog/truncated.jpg"),
                java.util.Arrays.copyOf(noiseJpg, noiseJpg.length / 2));
        write(in.resolve("dog/empty.jpg"), new byte[0]);
        write(in.resolve("dog/notes.txt"), "not an image".getBytes(StandardCharsets.UTF_8));
        write(in.resolve("README.md"), "root file".getBytes(StandardCharsets.UTF_8));
        Files.createDirectories(in.resolve("zebra")); // empty class still gets a label
        String out = tmp.resolve("out").toUri().toString();

        IngestJob.Options o = new IngestJob.Options(in.toString(),
                IngestJob.InputFormat.IMAGEFOLDER, out, "train", 2, null, null, null);
        IngestJob.Result res = IngestJob.run(spark, o);
        DatasetInfo info = res.info();

        assertThat(info.classNames()).containsExactly("cat", "dog", "zebra");
        assertThat(info.ingest().read()).isEqualTo(11);
        assertThat(info.ingest().accepted()).isEqualTo(7);
        assertThat(info.ingest().rejected()).isEqualTo(4);
        assertThat(info.ingest().rejectedByReason()).containsExactlyInAnyOrderEntriesOf(Map.of(
                "truncated", 1L, "empty_file", 1L, "not_an_image", 1L,
                "outside_class_folder", 1L));
        assertThat(info.countsPerLabel()).containsExactlyInAnyOrderEntriesOf(
                Map.of("0", 5L, "1", 2L));
        assertThat(info.shards()).extracting(DatasetInfo.Shard::file)
                .containsExactly("train-00000-of-00002.parquet", "train-00001-of-00002.parquet");
        assertThat(res.summary()).contains("accepted  7").contains("truncated");

        String split = tmp.resolve("out/train").toString();
        assertThat(rejectsByReason(split)).isEqualTo(info.ingest().rejectedByReason());
        List<Row> rejRows = spark.read().parquet(split + "/_rejects").orderBy("path")
                .collectAsList();
        assertThat(rejRows.get(0).getString(0)).isEqualTo("README.md");
        assertThat(rejRows).extracting(r -> r.getString(0))
                .containsExactly("README.md", "dog/empty.jpg", "dog/notes.txt",
                        "dog/truncated.jpg");

        // Spark sees the HF schema; the bytes are the original file bytes
        Dataset<Row> df = spark.read().parquet(split);
        StructType expected = new StructType()
                .add("image", new StructType().add("bytes", DataTypes.BinaryType)
                        .add("path", DataTypes.StringType))
                .add("label", DataTypes.LongType);
        assertThat(df.schema().json()).isEqualTo(expected.json());
        Row a = df.filter("image.path = 'cat/a.jpg'").collectAsList().get(0);
        assertThat((byte[]) a.getStruct(0).get(0)).isEqualTo(catJpg);
        assertThat(a.getLong(1)).isEqualTo(0L);

        // the HF footer key carries the ClassLabel names
        File shard0 = new File(split, "train-00000-of-00002.parquet");
        try (ParquetFileReader r = ParquetFileReader.open(HadoopInputFile.fromPath(
                new org.apache.hadoop.fs.Path(shard0.toURI()), new Configuration()))) {
            String hf = r.getFooter().getFileMetaData().getKeyValueMetaData().get("huggingface");
            assertThat(hf).contains("\"ClassLabel\"").contains("[\"cat\",\"dog\",\"zebra\"]");
        }

        // the pure-Java reader agrees
        CanonicalDataset ds = CanonicalDataset.open(split, new Configuration());
        assertThat(ds.numRows()).isEqualTo(7);
        assertThat(ds.readAll()).extracting(CanonicalDataset.Sample::path)
                .contains("cat/nested/deep.png", "cat/png-named.JPEG", "dog/d.gif");

        // idempotent: a second run gives the same rows, no temporary folders remain
        List<String> before = df.select("image.path", "label").orderBy("image.path")
                .collectAsList().stream().map(Row::toString).collect(Collectors.toList());
        IngestJob.run(spark, o);
        List<String> after = spark.read().parquet(split).select("image.path", "label")
                .orderBy("image.path").collectAsList().stream().map(Row::toString)
                .collect(Collectors.toList());
        assertThat(after).isEqualTo(before);
        try (Stream<Path> s = Files.list(tmp.resolve("out"))) {
            assertThat(s.map(p -> p.getFileName().toString())).containsExactly("train");
        }
    }

    /**
     * The files are listed in tasks (one per class) and the driver holds the classes only; the
     * listing is the one the driver used to make (the pre-session-13 algorithm, kept here as the
     * reference) and so is the output: every listed file once, in the layout's order (shard by
     * the row-order key's hash, sorted within), rejects and counts alike.
     */
    @Test
    void imageFolderListedInTasksIsTheDriverListingAndKeepsTheOutput() throws Exception {
        Path in = tmp.resolve("tree");
        int[] sizes = {1, 240, 0, 37, 5};
        String[] classes = {"a", "b", "c", "d e", "z.dir"};
        int color = 0;
        for (int c = 0; c < classes.length; c++) {
            for (int i = 0; i < sizes[c]; i++) {
                String sub = i % 7 == 3 ? "nested/" : i % 11 == 5 ? "x/y/" : "";
                write(in.resolve(classes[c] + "/" + sub + "f" + i + ".png"),
                        TestImages.encode(TestImages.solid(3, 2, 0x010203 * ++color), "png"));
            }
        }
        Files.createDirectories(in.resolve("c"));
        write(in.resolve("root.png"), TestImages.encode(TestImages.solid(3, 2, 7), "png"));
        write(in.resolve("notes.txt"), "x".getBytes(StandardCharsets.UTF_8));
        write(in.resolve("b/broken.png"), "not a png".getBytes(StandardCharsets.UTF_8));

        List<ImageFolderListing.Entry> reference = driverListing(in.toString());
        assertThat(reference).hasSize(1 + 240 + 37 + 5 + 3);
        ImageFolderListing plan = ImageFolderListing.plan(in.toString(), new Configuration());
        assertThat(plan.classNames()).containsExactly(classes);
        assertThat(plan.units()).hasSize(classes.length + 1);
        List<ImageFolderListing.Entry> listed = new ArrayList<>();
        for (ImageFolderListing.Unit u : plan.units()) {
            ImageFolderListing.files(u, new Configuration()).forEachRemaining(listed::add);
        }
        listed.sort(Comparator.comparing(ImageFolderListing.Entry::relPath));
        assertThat(listed).isEqualTo(reference);

        int shards = 3;
        String out = tmp.resolve("out").toString();
        DatasetInfo info = IngestJob.run(spark, new IngestJob.Options(in.toString(),
                IngestJob.InputFormat.IMAGEFOLDER, out, "train", shards, null, null, null)).info();
        assertThat(info.ingest().read()).isEqualTo(reference.size());
        assertThat(info.ingest().rejectedByReason()).containsExactlyInAnyOrderEntriesOf(Map.of(
                "outside_class_folder", 2L, "not_an_image", 1L));
        assertThat(info.countsPerLabel()).containsExactlyInAnyOrderEntriesOf(Map.of("0", 1L, "1", 240L, "3", 37L, "4", 5L));
        // the rows, in the order the layout gives the listed files
        List<String> expected = reference.stream().filter(e -> e.label() >= 0 && !e.relPath().equals("b/broken.png"))
                .map(e -> DatasetLayout.rowOrderKey(e.relPath()))
                .sorted(Comparator.comparingInt((String k) -> new HashPartitioner(shards).getPartition(k))
                        .thenComparing(Comparator.naturalOrder()))
                .map(k -> k.substring(k.indexOf('/') + 1) + "=" + reference.stream()
                        .filter(e -> e.relPath().equals(k.substring(k.indexOf('/') + 1))).findFirst().get().label())
                .toList();
        List<String> rows = CanonicalDataset.open(out + "/train", new Configuration()).readAll().stream()
                .map(r -> r.path() + "=" + r.label()).toList();
        assertThat(rows).isEqualTo(expected);
        assertThat(CanonicalDataset.open(out + "/train", new Configuration()).readAll())
                .extracting(CanonicalDataset.Sample::index).containsExactlyElementsOf(
                        java.util.stream.LongStream.range(0, expected.size()).boxed().toList());
    }

    /**
     * Balanced classes: the listing tasks process their own files (one stage fewer: no shuffle of
     * the listed entries); a large class among small ones: the entries are hashed to the processing
     * tasks. The output is the same either way (rows, indexes, bytes, rejects, sidecar counts), here
     * against the shuffled run forced by the switch.
     */
    @Test
    void imageFolderListingTasksProcessTheirFilesWhenBalancedWithTheSameOutput() throws Exception {
        Path in = tmp.resolve("balanced");
        int color = 0;
        for (int c = 0; c < 6; c++) {
            for (int i = 0; i < 20; i++) {
                write(in.resolve("c" + c + "/" + (i % 5 == 2 ? "sub/" : "") + "f" + i + ".png"),
                        TestImages.encode(TestImages.solid(3, 2, 0x030201 * ++color), "png"));
            }
        }
        write(in.resolve("c2/broken.png"), "not a png".getBytes(StandardCharsets.UTF_8));
        write(in.resolve("c4/empty.png"), new byte[0]);
        write(in.resolve("root.png"), TestImages.encode(TestImages.solid(3, 2, 7), "png"));
        assertThat(IngestJob.processInPlace(21, 123, 2)).as("precondition: balanced listing tasks").isTrue();

        String inPlace = ingestCountingStages(in, tmp.resolve("in-place"), null, 3);
        String shuffled = ingestCountingStages(in, tmp.resolve("shuffled"), "false", 4);
        assertThat(inPlace).isEqualTo(shuffled).contains("reject\tc2/broken.png\tnot_an_image");

        Path skewed = tmp.resolve("skewed");
        for (int i = 0; i < 40; i++) {
            write(skewed.resolve((i < 36 ? "big" : "small" + i) + "/f" + i + ".png"),
                    TestImages.encode(TestImages.solid(3, 2, 0x0A0B0C + i), "png"));
        }
        write(skewed.resolve("root.png"), new byte[0]);
        ingestCountingStages(skewed, tmp.resolve("skewed-out"), null, 4); // 36 of 41 files in one task: shuffled
        assertThat(IngestJob.processInPlace(36, 41, 2)).isFalse();
    }

    /** Ingests {@code in} with the in-place switch set to {@code inPlace} (null: unset); its output, one line per row and reject. */
    private String ingestCountingStages(Path in, Path out, String inPlace, int stages) throws Exception {
        java.util.concurrent.atomic.AtomicInteger n = new java.util.concurrent.atomic.AtomicInteger();
        org.apache.spark.scheduler.SparkListener counter = new org.apache.spark.scheduler.SparkListener() {
            @Override
            public void onStageCompleted(org.apache.spark.scheduler.SparkListenerStageCompleted e) {
                n.incrementAndGet();
            }
        };
        spark.sparkContext().addSparkListener(counter);
        IngestJob.Result r;
        try {
            if (inPlace != null) {
                System.setProperty(IngestJob.LISTING_IN_PLACE, inPlace);
            }
            r = IngestJob.run(spark, new IngestJob.Options(in.toString(), IngestJob.InputFormat.IMAGEFOLDER,
                    out.toString(), "train", 3, null, null, null));
            spark.sparkContext().listenerBus().waitUntilEmpty();
        } finally {
            System.clearProperty(IngestJob.LISTING_IN_PLACE);
            spark.sparkContext().removeSparkListener(counter);
        }
        assertThat(n.get()).as("stages of the ingest").isEqualTo(stages);
        StringBuilder sb = new StringBuilder();
        for (CanonicalDataset.Sample s : CanonicalDataset.open(r.splitUri(), new Configuration()).readAll()) {
            sb.append(s.index()).append('\t').append(s.path()).append('\t').append(s.label()).append('\t')
                    .append(java.util.HexFormat.of().formatHex(
                            java.security.MessageDigest.getInstance("SHA-256").digest(s.bytes()))).append('\n');
        }
        for (Row row : spark.read().parquet(r.splitUri() + "/" + DatasetLayout.REJECTS_DIR).orderBy("path")
                .select("path", "reason", "size").collectAsList()) {
            sb.append("reject\t").append(row.getString(0)).append('\t').append(row.getString(1)).append('\t')
                    .append(row.getLong(2)).append('\n');
        }
        DatasetInfo info = r.info();
        sb.append(info.classNames()).append(info.countsPerLabel()).append(info.ingest().rejectedByReason())
                .append(info.shards().stream().map(DatasetInfo.Shard::rows).toList());
        return sb.toString();
    }

    /**
     * Whatever way the ImageFolder ingest ends, it leaves nothing cached (a notebook or long-lived
     * session runs many): success, a class folder that cannot be listed (its error: one line naming
     * the folder), and a failure after the listing (no image accepted).
     */
    @Test
    void imageFolderIngestUnpersistsItsListingOnEveryOutcome() throws Exception {
        Path in = tmp.resolve("unlistable");
        for (String c : new String[] {"a", FailingListFs.UNLISTABLE, "c"}) {
            for (int i = 0; i < 3; i++) {
                write(in.resolve(c + "/f" + i + ".png"), TestImages.encode(TestImages.solid(3, 2, 0x102030 + i), "png"));
            }
        }
        String out = tmp.resolve("out").toString();
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        int cachedBefore = spark.sparkContext().getPersistentRDDs().size();
        conf.set("fs.file.impl", FailingListFs.class.getName());
        conf.setBoolean("fs.file.impl.disable.cache", true);
        try {
            assertThatThrownBy(() -> IngestJob.run(spark, new IngestJob.Options(in.toString(),
                    IngestJob.InputFormat.IMAGEFOLDER, out, "train", 2, null, null, null)))
                    .isInstanceOf(ImageFolderListing.ListingException.class)
                    .hasMessageNotContaining("\n")
                    .hasMessageContaining("cannot list class folder ")
                    .hasMessageContaining(in.resolve(FailingListFs.UNLISTABLE).toUri().getPath().replaceAll("/$", ""))
                    .hasMessageContaining("injected listing failure");
        } finally {
            conf.unset("fs.file.impl");
            conf.unset("fs.file.impl.disable.cache");
        }
        assertThat(spark.sparkContext().getPersistentRDDs().size()).as("cached after a listing failure")
                .isEqualTo(cachedBefore);
        assertThat(Files.exists(Path.of(out, "train"))).isFalse();

        Path bad = tmp.resolve("no-images");
        write(bad.resolve("a/x.png"), "not a png".getBytes(StandardCharsets.UTF_8));
        assertThatThrownBy(() -> IngestJob.run(spark, new IngestJob.Options(bad.toString(),
                IngestJob.InputFormat.IMAGEFOLDER, out, "train", 1, null, null, null)))
                .hasMessageContaining("no image of");
        assertThat(spark.sparkContext().getPersistentRDDs().size()).as("cached after a later failure")
                .isEqualTo(cachedBefore);

        DatasetInfo info = IngestJob.run(spark, new IngestJob.Options(in.toString(),
                IngestJob.InputFormat.IMAGEFOLDER, out, "train", 2, null, null, null)).info();
        assertThat(info.ingest().read()).isEqualTo(9);
        assertThat(spark.sparkContext().getPersistentRDDs().size()).as("cached after success")
                .isEqualTo(cachedBefore);
    }

    /** The local file system, failing to list one folder (by name). */
    public static final class FailingListFs extends org.apache.hadoop.fs.RawLocalFileSystem {
        static final String UNLISTABLE = "unlistable-class";

        private static void check(org.apache.hadoop.fs.Path f) throws java.io.IOException {
            if (f.getName().equals(UNLISTABLE)) {
                throw new java.io.IOException("injected listing failure");
            }
        }

        @Override
        public org.apache.hadoop.fs.FileStatus[] listStatus(org.apache.hadoop.fs.Path f) throws java.io.IOException {
            check(f);
            return super.listStatus(f);
        }

        @Override
        public org.apache.hadoop.fs.RemoteIterator<org.apache.hadoop.fs.FileStatus> listStatusIterator(
                org.apache.hadoop.fs.Path f) throws java.io.IOException {
            check(f);
            return super.listStatusIterator(f);
        }
    }

    /** The driver's listing before session 13: every file of the tree in one list, sorted by relative path. */
    private static List<ImageFolderListing.Entry> driverListing(String rootUri) throws Exception {
        org.apache.hadoop.fs.Path root = new org.apache.hadoop.fs.Path(rootUri);
        org.apache.hadoop.fs.FileSystem fs = root.getFileSystem(new Configuration());
        org.apache.hadoop.fs.Path qualifiedRoot = fs.makeQualified(root);
        java.util.TreeSet<String> classes = new java.util.TreeSet<>();
        for (org.apache.hadoop.fs.FileStatus st : fs.listStatus(qualifiedRoot)) {
            if (st.isDirectory()) {
                classes.add(st.getPath().getName());
            }
        }
        List<String> names = new ArrayList<>(classes);
        String prefix = qualifiedRoot.toUri().getPath() + "/";
        List<ImageFolderListing.Entry> entries = new ArrayList<>();
        org.apache.hadoop.fs.RemoteIterator<org.apache.hadoop.fs.FileStatus> it = FileListing.files(fs, qualifiedRoot);
        while (it.hasNext()) {
            org.apache.hadoop.fs.FileStatus st = it.next();
            String full = st.getPath().toUri().getPath();
            String rel = full.startsWith(prefix) ? full.substring(prefix.length()) : full;
            int slash = rel.indexOf('/');
            long label = slash < 0 ? -1 : names.indexOf(rel.substring(0, slash));
            entries.add(new ImageFolderListing.Entry(st.getPath().toString(), rel, label, st.getLen()));
        }
        entries.sort(Comparator.comparing(ImageFolderListing.Entry::relPath));
        return entries;
    }

    /** A file larger than one Java array is a read_error reject, not a failed job (sparse: no disk used). */
    @Test
    void imageFolderFileOverTwoGibibytesIsRejectedUnread() throws Exception {
        Path in = tmp.resolve("in");
        write(in.resolve("a/x.png"), TestImages.encode(TestImages.solid(4, 4, 0), "png"));
        Files.createDirectories(in.resolve("a"));
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(in.resolve("a/huge.png").toFile(), "rw")) {
            f.setLength(IngestJob.MAX_FILE_BYTES + 1);
        }
        IngestJob.Result res = IngestJob.run(spark, new IngestJob.Options(in.toString(),
                IngestJob.InputFormat.IMAGEFOLDER, tmp.resolve("out").toString(), "train", 1, null, null, null));
        assertThat(res.info().ingest().read()).isEqualTo(2);
        assertThat(res.info().ingest().accepted()).isEqualTo(1);
        assertThat(res.info().ingest().rejectedByReason()).containsExactlyEntriesOf(Map.of("read_error", 1L));
        List<Row> rej = spark.read().parquet(tmp.resolve("out/train/_rejects").toString()).collectAsList();
        assertThat(rej).extracting(r -> r.getString(0)).containsExactly("a/huge.png");
    }

    @Test
    void failedIngestLeavesExistingSplitUntouched() throws Exception {
        Path in = tmp.resolve("in");
        write(in.resolve("a/x.png"), TestImages.encode(TestImages.solid(4, 4, 0), "png"));
        String out = tmp.resolve("out").toString();
        IngestJob.run(spark, new IngestJob.Options(in.toString(),
                IngestJob.InputFormat.IMAGEFOLDER, out, "train", 1, null, null, null));
        String sidecar = Files.readString(tmp.resolve("out/train/_dataset_info.json"));

        Path pq = tmp.resolve("foreign");
        spark.createDataFrame(List.of(RowFactory.create(1L)),
                new StructType().add("x", DataTypes.LongType)).write().parquet(pq.toString());
        assertThatThrownBy(() -> IngestJob.run(spark, new IngestJob.Options(pq.toString(),
                IngestJob.InputFormat.PARQUET, out, "train", 1, "img", null, null)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("img");
        assertThat(Files.readString(tmp.resolve("out/train/_dataset_info.json")))
                .isEqualTo(sidecar);
        try (Stream<Path> s = Files.list(tmp.resolve("out"))) {
            assertThat(s.map(p -> p.getFileName().toString())).containsExactly("train");
        }
        // a split folder without the sidecar is not a dataset
        Files.delete(tmp.resolve("out/train/_dataset_info.json"));
        assertThatThrownBy(() -> CanonicalDataset.open(out + "/train", new Configuration()))
                .isInstanceOf(java.io.FileNotFoundException.class);
    }

    @Test
    void webDatasetShards() throws Exception {
        Path tars = tmp.resolve("wds");
        Files.createDirectories(tars);
        byte[] jpg = TestImages.jpeg(TestImages.gradient(32, 24, 5), 0.9f, false);
        byte[] png = TestImages.encode(TestImages.solid(6, 6, 0x123456), "png");
        writeTar(tars.resolve("shard-000.tar"), List.of(
                new Object[] {"s000.jpg", jpg}, new Object[] {"s000.cls", "7\n"},
                new Object[] {"s001.PNG", png}, new Object[] {"s001.json", "{\"label\": 3}"},
                new Object[] {"s002.cls", "1"}));
        writeTar(tars.resolve("shard-001.tar"), List.of(
                new Object[] {"dir/s003.jpg", "garbage".getBytes(StandardCharsets.UTF_8)},
                new Object[] {"dir/s003.cls", "2"},
                new Object[] {"dir/s004.jpeg", jpg},
                new Object[] {"dir/s005.webp.jpg", jpg}, new Object[] {"dir/s005.cls", "x"}));
        Files.writeString(tars.resolve("README.txt"), "ignored: not a tar");
        String out = tmp.resolve("out").toString();
        DatasetInfo info = IngestJob.run(spark, new IngestJob.Options(tars.toString(),
                IngestJob.InputFormat.WEBDATASET, out, "train", 1, null, null, null)).info();
        assertThat(info.ingest().read()).isEqualTo(6);
        assertThat(info.ingest().accepted()).isEqualTo(3);
        assertThat(info.ingest().rejectedByReason()).containsExactlyInAnyOrderEntriesOf(Map.of(
                "no_image", 1L, "not_an_image", 1L, "bad_label", 1L));
        Map<String, Long> labels = new HashMap<>();
        for (CanonicalDataset.Sample s : CanonicalDataset.open(out + "/train",
                new Configuration()).readAll()) {
            labels.put(s.path(), s.label());
        }
        assertThat(labels).containsExactlyInAnyOrderEntriesOf(Map.of(
                "shard-000.tar/s000.jpg", 7L, "shard-000.tar/s001.png", 3L,
                "shard-001.tar/dir/s004.jpeg", -1L));

        // a member cap below the JPEGs' size: their samples are rejected unread, the counts still add up
        assertThat(png.length).isLessThan(jpg.length - 1);
        DatasetInfo capped = IngestJob.run(spark, new IngestJob.Options(tars.toString(),
                IngestJob.InputFormat.WEBDATASET, out, "capped", 1, null, null, null, 0, jpg.length - 1)).info();
        assertThat(capped.ingest().read()).isEqualTo(6);
        assertThat(capped.ingest().accepted()).isEqualTo(1);
        assertThat(capped.ingest().rejectedByReason()).containsExactlyInAnyOrderEntriesOf(Map.of(
                "no_image", 1L, "not_an_image", 1L, "read_error", 3L));
        assertThat(CanonicalDataset.open(out + "/capped", new Configuration()).readAll())
                .extracting(CanonicalDataset.Sample::path).containsExactly("shard-000.tar/s001.png");
        assertThatThrownBy(() -> new IngestJob.Options(tars.toString(), IngestJob.InputFormat.WEBDATASET, out, "x", 1,
                null, null, null, 0, -5)).hasMessageContaining("member cap");
    }

    @Test
    void foreignParquetWithConfigurableColumns() throws Exception {
        byte[] a = TestImages.encode(TestImages.solid(5, 5, 0xFF0000), "png");
        byte[] b = TestImages.jpeg(TestImages.gradient(20, 10, 9), 0.9f, false);
        StructType structSchema = new StructType()
                .add("img", new StructType().add("bytes", DataTypes.BinaryType)
                        .add("path", DataTypes.StringType))
                .add("fine_label", DataTypes.IntegerType)
                .add("coarse_label", DataTypes.IntegerType);
        List<Row> rows = new ArrayList<>();
        rows.add(RowFactory.create(RowFactory.create(a, "a.png"), 42, 1));
        rows.add(RowFactory.create(RowFactory.create(b, null), 7, 1));
        rows.add(RowFactory.create(RowFactory.create("junk".getBytes(StandardCharsets.UTF_8),
                "junk.png"), 1, 0));
        rows.add(RowFactory.create(RowFactory.create(b, "c.jpg"), null, 0));
        Path pq = tmp.resolve("cifar-like");
        spark.createDataFrame(rows, structSchema).coalesce(1).write().parquet(pq.toString());
        String out = tmp.resolve("out").toString();
        DatasetInfo info = IngestJob.run(spark, new IngestJob.Options(pq.toString(),
                IngestJob.InputFormat.PARQUET, out, "train", 2, "img", "fine_label", null))
                .info();
        assertThat(info.ingest().read()).isEqualTo(4);
        assertThat(info.ingest().accepted()).isEqualTo(3);
        assertThat(info.ingest().rejectedByReason()).isEqualTo(Map.of("not_an_image", 1L));
        Map<String, Long> labels = new HashMap<>();
        for (CanonicalDataset.Sample s : CanonicalDataset.open(out + "/train",
                new Configuration()).readAll()) {
            labels.put(s.path(), s.label());
        }
        assertThat(labels).isEqualTo(Map.of("a.png", 42L, "row-1", 7L, "c.jpg", -1L));

        // raw binary image column
        Path raw = tmp.resolve("raw");
        spark.createDataFrame(List.of(RowFactory.create(a, 3L), RowFactory.create(b, 4L)),
                new StructType().add("png", DataTypes.BinaryType).add("y", DataTypes.LongType))
                .write().parquet(raw.toString());
        DatasetInfo info2 = IngestJob.run(spark, new IngestJob.Options(raw.toString(),
                IngestJob.InputFormat.PARQUET, out, "validation", 1, "png", "y", 4)).info();
        assertThat(info2.ingest().accepted()).isEqualTo(2);
        assertThat(info2.countsPerLabel()).isEqualTo(Map.of("3", 1L, "4", 1L));
        // --resize 4: the 20x10 JPEG becomes 8x4 (re-encoded), the 5x5 PNG 4x4
        for (CanonicalDataset.Sample s : CanonicalDataset.open(out + "/validation",
                new Configuration()).readAll()) {
            java.awt.image.BufferedImage img = dev.rq.data.image.ImageDecoding.decode(s.bytes());
            assertThat(Math.min(img.getWidth(), img.getHeight())).isEqualTo(4);
        }
    }

    private static void writeTar(Path p, List<Object[]> members) throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(bos)) {
            for (Object[] m : members) {
                byte[] data = m[1] instanceof String s ? s.getBytes(StandardCharsets.UTF_8)
                        : (byte[]) m[1];
                TarArchiveEntry e = new TarArchiveEntry((String) m[0]);
                e.setSize(data.length);
                tar.putArchiveEntry(e);
                tar.write(data);
                tar.closeArchiveEntry();
            }
        }
        Files.write(p, bos.toByteArray());
    }
}
