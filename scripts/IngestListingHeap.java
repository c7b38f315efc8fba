import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.jobs.ingest.IngestJob;
import java.lang.management.ManagementFactory;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * The ImageFolder listing's driver heap and output, for the scale-limits table (docs/architecture.md).
 * Runs against any build of the project (the listing API is found by reflection), so the same
 * script measures the driver listing before session 13 and the listing in tasks after it.
 *
 * <pre>
 *   gen DIR CLASSES PER_CLASS       empty files, ImageNet-like names (DIR/n%08d/n%08d_%d.JPEG)
 *   heap DIR                        retained driver heap of what the ingest's driver keeps of the listing
 *   ingest DIR OUT DUMP             ingest on local[2], then every row (index, path, label, SHA-256) and
 *                                   reject (path, reason, size) to DUMP, for a diff between builds
 * </pre>
 */
public final class IngestListingHeap {
    private static Object kept;

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "gen" -> gen(Path.of(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]));
            case "heap" -> heap(args[1]);
            case "ingest" -> ingest(args[1], args[2], Path.of(args[3]));
            default -> throw new IllegalArgumentException("gen | heap | ingest");
        }
    }

    private static void gen(Path dir, int classes, int perClass) throws Exception {
        for (int c = 0; c < classes; c++) {
            String cls = String.format("n%08d", 1_440_764 + c);
            Path d = Files.createDirectories(dir.resolve(cls));
            for (int i = 0; i < perClass; i++) {
                Files.createFile(d.resolve(cls + "_" + (10_026 + i * 7) + ".JPEG"));
            }
        }
        System.out.println("generated " + classes + " x " + perClass + " files under " + dir);
    }

    private static void heap(String dir) throws Exception {
        Class<?> listing = Class.forName("dev.rq.data.ingest.ImageFolderListing");
        Method m;
        String what;
        try {
            m = listing.getMethod("plan", String.class, Configuration.class);
            what = "plan (root only; files listed in tasks)";
        } catch (NoSuchMethodException e) {
            m = listing.getMethod("list", String.class, Configuration.class);
            what = "list (every file on the driver)";
        }
        Configuration conf = new Configuration();
        m.invoke(null, dir, conf); // warm up classes and the file system
        long before = used();
        long t0 = System.nanoTime();
        kept = m.invoke(null, dir, conf);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        long after = used();
        System.out.printf("%s: retained %.1f MB (%d B) on the driver, %d ms%n", what, (after - before) / 1e6,
                after - before, ms);
    }

    private static long used() throws InterruptedException {
        for (int i = 0; i < 4; i++) {
            System.gc();
            Thread.sleep(100);
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    private static void ingest(String dir, String out, Path dump) throws Exception {
        SparkSession spark = SparkSession.builder().master("local[2]").appName("listing")
                .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .config("spark.kryo.registrationRequired", "true")
                .config("spark.kryo.registrator", "dev.rq.jobs.RqKryoRegistrator").getOrCreate();
        long t0 = System.nanoTime();
        IngestJob.Result r = IngestJob.run(spark, new IngestJob.Options(dir, IngestJob.InputFormat.IMAGEFOLDER, out,
                "train", 4, null, null, null));
        System.out.printf("ingest: %d ms%n%s", (System.nanoTime() - t0) / 1_000_000, r.summary());
        List<String> lines = new ArrayList<>();
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        for (CanonicalDataset.Sample s : CanonicalDataset.open(r.splitUri(), new Configuration()).readAll()) {
            lines.add(s.index() + "\t" + s.path() + "\t" + s.label() + "\t"
                    + HexFormat.of().formatHex(sha.digest(s.bytes())));
        }
        for (Row row : spark.read().parquet(r.splitUri() + "/_rejects").orderBy("path")
                .select("path", "reason", "size").collectAsList()) {
            lines.add("reject\t" + row.getString(0) + "\t" + row.getString(1) + "\t" + row.getLong(2));
        }
        lines.add("info\t" + r.info().classNames() + "\t" + r.info().countsPerLabel() + "\t"
                + r.info().ingest().rejectedByReason() + "\t"
                + r.info().shards().stream().map(sh -> sh.rows() + "/" + sh.bytes()).toList());
        Files.write(dump, lines);
        spark.stop();
    }
}
