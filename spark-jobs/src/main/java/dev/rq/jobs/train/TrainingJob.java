package dev.rq.jobs.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rq.jobs.JobGroup;
import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.distributed.RingSettings;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.Configs;
import dev.rq.report.LineChart;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.IntStream;
import org.apache.hadoop.conf.Configuration;
import org.slf4j.LoggerFactory;
import org.slf4j.Logger;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.SparkSession;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/**
 * Data-parallel training on Spark ({@code rq train-vae}, {@code rq train-transformer}) of any {@link
 * TrainingStage}: one barrier stage of N tasks
 * (one rank each) runs the whole training; the driver only validates, launches, collects progress
 * and retries.
 *
 * <p>Failure handling: any rank failure (exception, lost executor, collective time-out of a dead
 * or hung peer) fails the barrier stage; Spark re-attempts it and every rank resumes from the
 * last committed checkpoint. If Spark gives up, the driver resubmits the stage up to {@code
 * driverRetries} times. If the driver dies, rerunning the same command resumes from the last
 * checkpoint. Results are bit-identical to an uninterrupted run with the same seed and N.
 */
public final class TrainingJob {

    static final Logger LOG = LoggerFactory.getLogger(TrainingJob.class);

    /** The config key of the all-reduce order ({@code dev.rq.model.config.TrainConfig#allreduceOrder}). */
    static final String ALLREDUCE_ORDER = "train.allreduce_order";
    private static final ObjectMapper JSON = new ObjectMapper();

    private TrainingJob() {}

    /**
     * Job inputs common to all stages.
     *
     * @param runUri run directory URI
     * @param workers N ranks (one barrier task each)
     * @param collectiveTimeout a peer silent for this long fails the stage
     * @param driverRetries resubmissions of the stage after Spark gives up
     * @param faultInjection testing only: {@code throw|hang|exit:rank:step}, one-shot per run
     */
    public record Options(String runUri, int workers, Duration collectiveTimeout, int driverRetries,
            String faultInjection) {
        public Options {
            if (workers < 1) {
                throw new ConfigException("--workers", "must be at least 1, got " + workers);
            }
        }
    }

    /**
     * The outcome.
     *
     * @param runUri the run directory
     * @param finalCheckpoint URI of the last committed checkpoint
     * @param steps optimizer steps of the run
     * @param weightsSha256 SHA-256 of the final weights (identical on every rank; null if the run was
     *     already complete)
     * @param submissions times the training stage was submitted (1 without failures, 0 if complete)
     */
    public record Result(String runUri, String finalCheckpoint, long steps, String weightsSha256, int submissions) {}

    /** Trains {@code stage} on {@code spark}. */
    public static Result run(SparkSession spark, TrainingStage stage, Options o) throws IOException {
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        // validate everything before any cluster work
        SparkSessions.check(spark.sparkContext().getConf());
        SparkSessions.checkBarrierStage(spark.sparkContext().getConf());
        stage.validate(conf, o.workers());
        long maxSteps = stage.limits().maxSteps();
        RunDirectory run = new RunDirectory(o.runUri(), conf);
        String hash = Configs.hash(stage.config());
        boolean resume = run.claim(stage.kind(), hash, stage.config(), stage::resolve);
        List<Long> complete = run.completeSteps(); // newest first; torn ones skipped with a warning
        if (resume && !complete.isEmpty() && complete.get(0) >= maxSteps) {
            long s = complete.get(0);
            try {
                run.verify(s); // every SHA-256, streamed: the run is complete only if its last checkpoint is
                LOG.info("run {} is already complete at step {}", o.runUri(), s);
                return new Result(o.runUri(), run.checkpoint(s).uri(), s, null, 0);
            } catch (CheckpointException e) {
                LOG.warn("the last checkpoint fails verification ({}); training again from an earlier one",
                        e.getMessage());
            }
        }
        boolean tree = stage.treeAllReduce(o.workers());
        if (tree && resume && !run.storedConfigHas(ALLREDUCE_ORDER)) {
            // started by an rq without the key: the ring's order, so that the run keeps its bits
            LOG.info("run {} was started before {} existed: it resumes in the ring's order (its own)", o.runUri(),
                    ALLREDUCE_ORDER);
            tree = false;
        }
        RingSettings ring = RingSettings.from(spark.sparkContext().getConf(), o.collectiveTimeout());
        String driverHost = spark.sparkContext().getConf().get("spark.driver.host", "127.0.0.1");
        Map<String, String> hadoop = new HashMap<>();
        conf.forEach(e -> hadoop.put(e.getKey(), e.getValue()));
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        int submissions = 0;
        while (true) {
            submissions++;
            long from = run.completeSteps().stream().mapToLong(Long::longValue).max().orElse(0);
            String group = "rq-train-" + stage.kind() + "-" + UUID.randomUUID();
            // a diverged run is stopped at once, not retried by Spark: every retry would diverge the same way
            Metrics metrics = new Metrics(run, from, maxSteps, stage.kind(), () -> jsc.cancelJobGroup(group));
            try (ProgressServer progress = new ProgressServer(
                    spark.sparkContext().getConf().get("spark.driver.bindAddress", driverHost), ring.progressPorts(),
                    metrics::accept)) {
                String token = spark.sparkContext().applicationId() + "/" + UUID.randomUUID();
                RankTask task = new RankTask(stage, o.runUri(), token, progress.address(driverHost),
                        ring, o.faultInjection(), hadoop, tree);
                List<String> results = JobGroup.run(spark, group, String.format("rq train %s: %d ranks, steps"
                        + " %d..%d -> %s", stage.kind(), o.workers(), from, maxSteps, o.runUri()), true, () -> {
                    JavaRDD<Integer> ranks = jsc.parallelize(IntStream.range(0, o.workers()).boxed().toList(),
                            o.workers());
                    ClassTag<String> tag = ClassTag$.MODULE$.apply(String.class);
                    RDD<String> out = ranks.rdd().barrier().mapPartitions(task, false, tag);
                    return JavaRDD.fromRDD(out, tag).collect();
                });
                progress.drain(Duration.ofSeconds(30)); // the last steps' lines may still be in flight
                metrics.close();
                JsonNode r0 = JSON.readTree(results.get(0));
                for (String r : results) {
                    if (!JSON.readTree(r).get("weights_sha256").equals(r0.get("weights_sha256"))) {
                        throw new IllegalStateException("ranks finished with different weights: " + results);
                    }
                }
                long steps = r0.get("step").asLong();
                metrics.writeReport(true);
                LOG.info("training done: {} steps, weights sha256 {}", steps, r0.get("weights_sha256").asText());
                return new Result(o.runUri(), run.checkpoint(steps).uri(), steps, r0.get("weights_sha256").asText(),
                        submissions);
            } catch (Exception e) {
                metrics.close();
                if (metrics.diverged() != null) {
                    throw new TrainingDivergedException(metrics.diverged());
                }
                if (e instanceof ConfigException || submissions > o.driverRetries()) {
                    throw e instanceof RuntimeException re ? re : new IllegalStateException(e.getMessage(), e);
                }
                LOG.warn("training stage failed ({}); resubmitting from the last checkpoint ({} of {} retries)",
                        rootMessage(e), submissions, o.driverRetries());
            }
        }
    }

    private static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c.getClass().getSimpleName() + ": " + c.getMessage();
    }

    /**
     * Driver-side progress: console lines and the run's rolled metric files ({@link MetricsLog}),
     * truncated on (re)submission to the steps covered by the last committed checkpoint so that a
     * retried segment is not logged twice.
     */
    static final class Metrics implements AutoCloseable {
        private final long maxSteps;
        private final RunDirectory run;
        private final List<JsonNode> history = new ArrayList<>();
        private MetricsLog log;

        private final String kind;
        private final Runnable onDiverged;
        private volatile String diverged;

        /** @param onDiverged called (on the progress thread) when rank 0 reports a diverged step */
        Metrics(RunDirectory run, long fromStep, long maxSteps, String kind, Runnable onDiverged) throws IOException {
            this.run = run;
            this.maxSteps = maxSteps;
            this.kind = kind;
            this.onDiverged = onDiverged;
            this.log = new MetricsLog(run, fromStep);
            for (String line : MetricsLog.read(run)) {
                history.add(JSON.readTree(line));
            }
        }

        synchronized void accept(String line) {
            try {
                JsonNode n = JSON.readTree(line);
                switch (n.path("event").asText()) {
                    case "step" -> {
                        history.add(n);
                        if (log != null) {
                            log.append(n.path("step").asLong(), line);
                        }
                        LOG.info(format(n));
                    }
                    case "start" -> LOG.info("rank 0 started at step {} ({} ranks, {} threads each, from {})",
                            n.path("step").asLong(), n.path("world_size").asInt(), n.path("threads").asInt(),
                            n.path("resumed_from").asText());
                    case "checkpoint" -> {
                        LOG.info("checkpoint committed: {}", n.path("uri").asText());
                        if (log != null) {
                            log.roll();
                        }
                        writeCurves();
                        writeReport(false);
                    }
                    case "diverged" -> {
                        diverged = n.path("message").asText();
                        LOG.info("rank 0 reports a diverged step: stopping the training job");
                        writeReport(false);
                        onDiverged.run();
                    }
                    default -> { }
                }
            } catch (IOException | RuntimeException e) {
                LOG.warn("bad progress line {}: {}", line, e.toString());
            }
        }

        private String format(JsonNode n) {
            long step = n.path("step").asLong();
            double ips = n.path("img_per_s").asDouble();
            double stepSec = n.path("images").asDouble() / Math.max(ips, 1e-9);
            long eta = (long) ((maxSteps - step) * stepSec);
            StringBuilder extra = new StringBuilder();
            for (String k : List.of("recon_loss", "commit_loss", "perceptual_loss", "gen_loss", "disc_loss",
                    "adaptive_weight", "bits_per_code")) {
                if (n.has(k)) {
                    extra.append(extra.length() == 0 ? " (" : ", ").append(k.replace("_loss", ""))
                            .append(String.format(" %.5f", n.path(k).asDouble()));
                }
            }
            if (extra.length() > 0) {
                extra.append(')');
            }
            StringBuilder ppl = new StringBuilder();
            for (JsonNode p : n.path("perplexity")) {
                ppl.append(ppl.length() == 0 ? " | ppl " : "/").append(Math.round(p.asDouble()));
            }
            String dead = n.has("dead_fraction") ? String.format(" | dead %.2f", n.path("dead_fraction").asDouble()) : "";
            return String.format("%s step %d/%d | %.1f img/s | loss %.5f%s%s%s | allreduce %.0f ms (waiting %.0f)"
                    + " | ETA %dm%02ds", kind, step, maxSteps, ips, n.path("loss").asDouble(), extra, ppl, dead,
                    1000 * n.path("allreduce_seconds").asDouble(), 1000 * n.path("allreduce_wait_seconds").asDouble(),
                    eta / 60, eta % 60);
        }

        /** Writes {@code plots/loss.png} and {@code plots/codebook.png} from the history. */
        void writeCurves() {
            try {
                int k = history.size();
                double[] steps = new double[k];
                double[][] loss = new double[3][k];
                int depth = k == 0 ? 0 : history.get(0).path("perplexity").size();
                double[][] ppl = new double[depth][k];
                double[] dead = new double[k];
                for (int i = 0; i < k; i++) {
                    JsonNode n = history.get(i);
                    steps[i] = n.path("step").asDouble();
                    loss[0][i] = n.path("loss").asDouble();
                    loss[1][i] = n.path("recon_loss").asDouble();
                    loss[2][i] = n.path("commit_loss").asDouble();
                    for (int d = 0; d < depth; d++) {
                        ppl[d][i] = n.path("perplexity").path(d).asDouble();
                    }
                    dead[i] = n.path("dead_fraction").asDouble();
                }
                LineChart lc = LineChart.of(kind + " training loss", "step", "loss").add("total", steps, loss[0]);
                if (k > 0 && history.get(0).has("recon_loss")) {
                    lc.add("recon", steps, loss[1]).add("commitment", steps, loss[2]);
                }
                run.writeFile(RunDirectory.PLOTS + "/loss.png", lc.logY(true).png());
                if (k > 0 && history.get(0).has("perceptual_loss")) { // stage 1 with the GAN pair
                    LineChart gan = LineChart.of(kind + " perceptual and GAN terms", "step", "value");
                    for (String key : List.of("perceptual_loss", "gen_loss", "disc_loss", "adaptive_weight")) {
                        double[] v = new double[k];
                        for (int i = 0; i < k; i++) {
                            v[i] = history.get(i).path(key).asDouble();
                        }
                        gan.add(key.replace("_loss", "").replace('_', ' '), steps, v);
                    }
                    run.writeFile(RunDirectory.PLOTS + "/gan.png", gan.png());
                }
                LineChart cb = LineChart.of("codebook usage", "step", "perplexity");
                for (int d = 0; d < depth; d++) {
                    cb.add("perplexity depth " + d, steps, ppl[d]);
                }
                if (depth > 0) {
                    run.writeFile(RunDirectory.PLOTS + "/codebook.png", cb.png());
                }
            } catch (IOException | RuntimeException e) {
                LOG.warn("cannot write loss curves: {}", e.toString());
            }
        }

        /** Writes {@code report.html} (best effort: a failure is logged, training goes on). */
        synchronized void writeReport(boolean done) {
            try {
                new RunReport(run, kind, maxSteps).write(history, done);
            } catch (IOException | RuntimeException e) {
                LOG.warn("cannot write {}: {}", RunReport.FILE, e.toString());
            }
        }

        /** @return the message of the diverged step rank 0 reported, or null */
        String diverged() {
            return diverged;
        }

        /** @return logged step records so far */
        synchronized List<JsonNode> history() {
            return new ArrayList<>(history);
        }

        @Override
        public synchronized void close() {
            try {
                if (log != null) {
                    log.close();
                    log = null;
                }
            } catch (IOException e) {
                LOG.warn("cannot write the last metrics part: {}", e.toString());
            }
        }
    }
}
