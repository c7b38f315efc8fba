package dev.rq.pipelines.sidquickstart;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.jobs.sid.AssignSidJob;
import dev.rq.jobs.sid.ItemTablesJob;
import dev.rq.jobs.sid.SidReport;
import dev.rq.jobs.train.SidStage;
import dev.rq.jobs.train.RunDirectory;
import dev.rq.jobs.train.TrainingJob;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.config.SidModelConfig;
import dev.rq.model.config.SidRunConfig;
import dev.rq.tables.SidManifest;
import dev.rq.tables.SidTable;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

/**
 * {@code rq sid-quickstart}: semantic IDs end to end on one SparkSession, into one folder.
 *
 * <ol>
 *   <li><b>items</b>: the item table ({@code --data}), or Fashion-MNIST as items (70,000 × 784
 *       pixels, L2-normalised, label = class) built into {@code <out>/fashion-mnist} from Debian's
 *       {@code dataset-fashion-mnist} files;
 *   <li><b>train rqvae</b> and <b>train rq-kmeans</b>: {@code rq train-sid} with both methods into
 *       {@code <out>/train-rqvae} and {@code <out>/train-rqkmeans} (each resumes; a finished run is
 *       not trained again);
 *   <li><b>assign</b>: {@code rq assign-sid} with each final checkpoint into {@code <out>/ids-rqvae}
 *       and {@code <out>/ids-rqkmeans} (skipped when that table was made by the same checkpoint);
 *   <li><b>report</b>: {@code <out>/report.html} and {@code report.json}, both methods side by side.
 * </ol>
 */
public final class SidQuickstartJob {

    private static final ObjectMapper JSON = new ObjectMapper();

    private SidQuickstartJob() {}

    /**
     * Options.
     *
     * @param config the run config (its method is overridden per run)
     * @param configSource where the config came from (for the report)
     * @param data item table URI, or null for Fashion-MNIST
     * @param out output folder
     * @param workers training ranks and local Spark workers
     * @param collectiveTimeout training collective time-out
     * @param driverRetries training resubmissions after Spark gives up on the stage
     */
    public record Options(SidRunConfig config, String configSource, String data, String out, int workers,
            Duration collectiveTimeout, int driverRetries) {

        /** Options with two driver retries. */
        public Options(SidRunConfig config, String configSource, String data, String out, int workers,
                Duration collectiveTimeout) {
            this(config, configSource, data, out, workers, collectiveTimeout, 2);
        }
    }

    /**
     * The outcome.
     *
     * @param report the HTML report
     * @param seconds wall time
     * @param stages seconds per stage
     */
    public record Result(String report, double seconds, Map<String, Double> stages) {}

    /** Runs every stage; {@code console} gets one line per stage. */
    public static Result run(SparkSession spark, Options o, PrintStream console) throws IOException {
        long t0 = System.nanoTime();
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        Path out = new Path(o.out());
        FileSystem fs = out.getFileSystem(conf);
        fs.mkdirs(out);
        Map<String, Double> stages = new LinkedHashMap<>();

        long s = System.nanoTime();
        String data = o.data();
        if (data == null) {
            data = new Path(out, "fashion-mnist").toString();
            if (!fs.exists(new Path(data, "_SUCCESS"))) {
                fs.delete(new Path(data), true);
                long n = ItemTablesJob.fashionMnist(spark, ItemTablesJob.FASHION_MNIST_DIR, data);
                console.printf("items: Fashion-MNIST, %d items -> %s%n", n, data);
            } else {
                console.printf("items: %s (built before)%n", data);
            }
        }
        stages.put("items", secs(s));

        Map<String, TrainingJob.Result> trained = new LinkedHashMap<>();
        for (String method : List.of(SidModelConfig.RQVAE, SidModelConfig.RQ_KMEANS)) {
            s = System.nanoTime();
            SidRunConfig c = o.config().withMethod(method);
            String run = new Path(out, "train-" + method.replace("-", "")).toString();
            TrainingJob.Result r = SidStage.train(spark, c, data, new TrainingJob.Options(run, o.workers(),
                    o.collectiveTimeout(), o.driverRetries(), null));
            trained.put(method, r);
            stages.put("train " + method, secs(s));
            console.printf("train %s: %d steps -> %s (%.0f s)%n", method, r.steps(), r.finalCheckpoint(), secs(s));
        }

        List<SidReport.Entry> entries = new ArrayList<>();
        for (Map.Entry<String, TrainingJob.Result> t : trained.entrySet()) {
            s = System.nanoTime();
            String table = new Path(out, "ids-" + t.getKey().replace("-", "")).toString();
            SidManifest m = upToDate(new Path(table), t.getValue().finalCheckpoint(), conf);
            if (m == null) {
                m = AssignSidJob.run(spark, new AssignSidJob.Options(t.getValue().finalCheckpoint(), data, table, null,
                        null, null, null, 4096, 0, 1)).manifest();
                console.printf("assign %s: %d items, unique-sid ratio %.4f -> %s (%.0f s)%n", t.getKey(),
                        m.counts().items(), m.collisions().uniqueSidRatio(), table, secs(s));
            } else {
                console.printf("assign %s: %s is up to date%n", t.getKey(), table);
            }
            stages.put("assign " + t.getKey(), secs(s));
            entries.add(new SidReport.Entry(t.getKey(), table, m, training(t.getValue(), conf)));
        }

        s = System.nanoTime();
        Map<String, Object> extra = new LinkedHashMap<>();
        extra.put("item table", data);
        extra.put("config", o.configSource());
        extra.put("workers", o.workers());
        stages.forEach((k, v) -> extra.put("stage " + k, String.format(Locale.ROOT, "%.1f s", v)));
        Map<String, String> images = new LinkedHashMap<>();
        images.put("train-rqvae/plots/loss.png", "RQ-VAE training loss (total, reconstruction, commitment)");
        images.put("train-rqvae/plots/codebook.png", "RQ-VAE codebook perplexity per level during training");
        images.put("train-rqkmeans/plots/loss.png", "residual k-means: mean squared residual per Lloyd iteration");
        images.keySet().removeIf(p -> {
            try {
                return !fs.exists(new Path(out, p));
            } catch (IOException e) {
                return true;
            }
        });
        var mc = o.config().model();
        SidReport.write(out, conf, "rq sid-quickstart: semantic IDs with RQ-VAE and RQ-KMeans",
                String.format(Locale.ROOT, "Items of %s encoded by the TIGER-style RQ-VAE (MLP %s -> %d, %d levels"
                        + " of K = %s, %s codebooks) and by residual k-means on the raw embeddings (same D and K).",
                        data, mc.encoderWidths().subList(0, mc.encoderWidths().size() - 1), mc.latentDim(), mc.depth(),
                        mc.codebookSize(), mc.codebookUpdate()), extra, entries, images);
        stages.put("report", secs(s));
        double total = secs(t0);
        String report = new Path(out, SidReport.HTML).toString();
        console.printf("report: %s (%.0f s in all)%n", report, total);
        return new Result(report, total, stages);
    }

    /** @return the manifest of {@code table} if it was made by {@code checkpoint}'s model, else null */
    private static SidManifest upToDate(Path table, String checkpoint, Configuration conf) throws IOException {
        FileSystem fs = table.getFileSystem(conf);
        if (!fs.exists(new Path(table, SidTable.MANIFEST))) {
            return null;
        }
        SidManifest m = SidManifest.read(table, conf);
        JsonNode ckpt;
        try (InputStream in = fs.open(new Path(checkpoint, Checkpoints.MANIFEST))) {
            ckpt = JSON.readTree(in);
        }
        String sha = ckpt.path("files").path(Checkpoints.MODEL).path("sha256").asText();
        return sha.equals(m.model().modelSha256()) ? m : null;
    }

    /** The training run's summary for the report: steps, last logged losses, throughput. */
    private static JsonNode training(TrainingJob.Result r, Configuration conf) throws IOException {
        ObjectNode n = JSON.createObjectNode();
        n.put("run", r.runUri());
        n.put("steps", r.steps());
        List<JsonNode> lines = new ArrayList<>();
        for (String l : new RunDirectory(r.runUri(), conf).metricsLines()) { // the rolled metric parts
            lines.add(JSON.readTree(l));
        }
        if (lines.isEmpty()) {
            n.put("summary", r.steps() + " steps");
            return n;
        }
        JsonNode last = lines.get(lines.size() - 1);
        double[] ips = lines.stream().mapToDouble(l -> l.path("img_per_s").asDouble()).sorted().toArray();
        double itemsPerSecond = ips[ips.length / 2];
        n.put("items_per_second_median", itemsPerSecond);
        n.set("last", last);
        n.put("summary", String.format(Locale.ROOT, "%d steps, last loss %.5f, %.0f items/s (median of the logged"
                + " windows)", r.steps(), last.path("loss").asDouble(), itemsPerSecond));
        return n;
    }

    private static double secs(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }
}
