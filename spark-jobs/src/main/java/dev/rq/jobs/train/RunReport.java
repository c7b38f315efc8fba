package dev.rq.jobs.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rq.report.HtmlReport;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;

/**
 * The {@code report.html} page of a training run, written by the driver into the run directory
 * (through its Hadoop file system, so it works on object stores) at every committed checkpoint and
 * at the end: status and timings, loss curves, codebook usage (RQ-VAE) or held-out bits per code
 * (RQ-Transformer), the newest reconstruction or sample grid, the checkpoints and the resolved
 * configuration. Everything it shows comes from the logged step records and the files of the run
 * directory ({@code run.json}, {@code plots/}, {@code heldout.jsonl}); images are relative links.
 */
final class RunReport {

    static final String FILE = "report.html";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final RunDirectory run;
    private final String kind;
    private final long maxSteps;

    /**
     * @param run the run directory
     * @param kind {@code rqvae} or {@code rqtransformer}
     * @param maxSteps the run's optimizer steps
     */
    RunReport(RunDirectory run, String kind, long maxSteps) {
        this.run = run;
        this.kind = kind;
        this.maxSteps = maxSteps;
    }

    /**
     * Writes {@code report.html}.
     *
     * @param history the logged step records of the run, in step order
     * @param done whether the run has finished
     */
    void write(List<JsonNode> history, boolean done) throws IOException {
        run.writeFile(FILE, html(history, done).toHtml().getBytes(StandardCharsets.UTF_8));
    }

    HtmlReport html(List<JsonNode> history, boolean done) throws IOException {
        List<Long> checkpoints = run.committedSteps();
        JsonNode last = history.isEmpty() ? null : history.get(history.size() - 1);
        long step = last == null ? 0 : last.path("step").asLong();
        String title = switch (kind) {
            case "rqvae" -> "RQ-VAE training run";
            case "rqtransformer" -> "RQ-Transformer training run";
            case "sid-rqvae" -> "Semantic-ID RQ-VAE training run";
            case "sid-rqkmeans" -> "Semantic-ID residual k-means run";
            default -> kind + " training run";
        };
        HtmlReport r = HtmlReport.titled(title).paragraph(run.uri());

        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("status", done ? "finished at step " + step : "running: step " + step + " of " + maxSteps
                + " (this page is refreshed at every checkpoint)");
        summary.put("checkpoints", checkpoints.isEmpty() ? "none yet" : checkpoints.size() + " kept, newest "
                + RunDirectory.CHECKPOINTS + "/" + RunDirectory.name(checkpoints.get(checkpoints.size() - 1)));
        if (last != null) {
            summary.put("last logged loss", String.format(Locale.ROOT, "%.5f at step %d", last.path("loss").asDouble(),
                    step));
        }
        summary.putAll(timings(history));
        r.heading("Summary").keyValues(summary);

        r.heading("Loss");
        if (exists(RunDirectory.PLOTS + "/loss.png")) {
            r.image(RunDirectory.PLOTS + "/loss.png", "training loss per logged step (log scale)");
        }
        if (exists(RunDirectory.PLOTS + "/gan.png")) {
            r.image(RunDirectory.PLOTS + "/gan.png", "stage-1 perceptual (LPIPS), generator and discriminator losses"
                    + " and the adaptive weight per logged step");
        }
        if (kind.equals("rqvae")) {
            codebook(r, last);
            newestPlot(r, "recon-", "the newest reconstructions: the first images of the training split (top,"
                    + " evaluation transform) and their reconstructions (bottom, eval mode)");
        } else if (kind.equals("sid-rqvae")) {
            codebook(r, last);
        } else if (kind.equals("sid-rqkmeans")) {
            levels(r, history);
        } else {
            heldOut(r);
            newestPlot(r, "samples-", "samples of the newest checkpoint (one per class, decoded with the run's"
                    + " RQ-VAE)");
        }
        r.heading("Checkpoints");
        List<List<Object>> rows = new ArrayList<>();
        for (long s : checkpoints) {
            rows.add(List.of(s, RunDirectory.CHECKPOINTS + "/" + RunDirectory.name(s)));
        }
        r.table(List.of("step", "directory"), rows);
        JsonNode runJson = readJson(RunDirectory.RUN_JSON);
        if (runJson != null) {
            r.heading("Configuration").paragraph("config hash " + runJson.path("config_hash").asText())
                    .pre(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(runJson.path("config")));
        }
        return r;
    }

    /** Wall time and throughput of the logged steps. */
    static Map<String, Object> timings(List<JsonNode> history) {
        Map<String, Object> t = new LinkedHashMap<>();
        if (history.size() < 2) {
            return t;
        }
        double first = history.get(0).path("time").asDouble();
        double lastTime = history.get(history.size() - 1).path("time").asDouble();
        long steps = history.get(history.size() - 1).path("step").asLong() - history.get(0).path("step").asLong();
        double[] ips = history.stream().mapToDouble(n -> n.path("img_per_s").asDouble()).sorted().toArray();
        double stepSeconds = 0;
        double allReduce = 0;
        for (JsonNode n : history) {
            stepSeconds += n.path("step_seconds").asDouble();
            allReduce += n.path("allreduce_seconds").asDouble();
        }
        if (lastTime > first) {
            t.put("wall time of the logged steps", String.format(Locale.ROOT, "%s for %d steps (%.2f s/step)",
                    duration(lastTime - first), steps, (lastTime - first) / Math.max(1, steps)));
        }
        t.put("images/s (median of the logging windows)", String.format(Locale.ROOT, "%.1f", ips[ips.length / 2]));
        if (stepSeconds > 0) {
            t.put("all-reduce share of the logged steps", String.format(Locale.ROOT, "%.1f %%",
                    100 * allReduce / stepSeconds));
        }
        return t;
    }

    private void codebook(HtmlReport r, JsonNode last) throws IOException {
        r.heading("Codebook usage");
        if (exists(RunDirectory.PLOTS + "/codebook.png")) {
            r.image(RunDirectory.PLOTS + "/codebook.png", "codebook perplexity per depth during training");
        }
        if (last != null && last.has("perplexity")) {
            List<List<Object>> rows = new ArrayList<>();
            for (int d = 0; d < last.path("perplexity").size(); d++) {
                rows.add(List.of(d, String.format(Locale.ROOT, "%.1f", last.path("perplexity").path(d).asDouble()),
                        String.format(Locale.ROOT, "%.1f %%", 100 * last.path("used_fraction").path(d).asDouble())));
            }
            r.paragraph(String.format(Locale.ROOT, "at step %d (one training batch; dead codes %.1f %% of the"
                    + " codebook)", last.path("step").asLong(), 100 * last.path("dead_fraction").asDouble()))
                    .table(List.of("depth", "perplexity", "codes used"), rows);
        }
    }

    /** Residual k-means: the last logged Lloyd iteration of every level. */
    private static void levels(HtmlReport r, List<JsonNode> history) {
        Map<Integer, JsonNode> lastOfLevel = new java.util.TreeMap<>();
        history.forEach(n -> lastOfLevel.put(n.path("level").asInt(), n));
        List<List<Object>> rows = new ArrayList<>();
        lastOfLevel.forEach((level, n) -> rows.add(List.of(level, n.path("iteration").asLong(),
                String.format(Locale.ROOT, "%.5f", n.path("loss").asDouble()),
                String.format(Locale.ROOT, "%.1f", n.path("level_perplexity").asDouble()),
                String.format(Locale.ROOT, "%.1f %%", 100 * n.path("level_used_fraction").asDouble()))));
        r.heading("Levels").paragraph("the loss is the mean squared distance of the sampled items' residuals to"
                + " their nearest centroid; perplexity and usage are over the k-means sample")
                .table(List.of("level", "Lloyd iterations", "loss", "perplexity", "codes used"), rows);
    }

    private void heldOut(HtmlReport r) throws IOException {
        List<String> lines = run.readLines("heldout.jsonl");
        if (lines.isEmpty()) {
            return;
        }
        r.heading("Held-out bits per code");
        List<List<Object>> rows = new ArrayList<>();
        String split = "";
        for (String l : lines) {
            JsonNode n = JSON.readTree(l);
            split = n.path("split").asText();
            double[] bits = new double[n.path("bits_per_code").size()];
            for (int d = 0; d < bits.length; d++) {
                bits[d] = n.path("bits_per_code").path(d).asDouble();
            }
            rows.add(List.of(n.path("step").asLong(), String.format(Locale.ROOT, "%.3f",
                    Arrays.stream(bits).average().orElse(Double.NaN)), Arrays.stream(bits)
                    .mapToObj(b -> String.format(Locale.ROOT, "%.3f", b)).toList().toString()));
        }
        r.paragraph("negative log-likelihood of the '" + split + "' codes at each checkpoint (hard targets, eval"
                + " mode)").table(List.of("step", "mean bits/code", "per depth"), rows);
    }

    /** The newest {@code plots/<prefix>step-N.png}, if any. */
    private void newestPlot(HtmlReport r, String prefix, String caption) throws IOException {
        Path plots = run.path(RunDirectory.PLOTS);
        if (!run.fs().exists(plots)) {
            return;
        }
        String newest = null;
        for (FileStatus s : run.fs().listStatus(plots)) {
            String n = s.getPath().getName();
            if (n.startsWith(prefix + "step-") && n.endsWith(".png") && (newest == null || n.compareTo(newest) > 0)) {
                newest = n;
            }
        }
        if (newest != null) {
            r.heading(prefix.startsWith("recon") ? "Reconstructions" : "Samples")
                    .image(RunDirectory.PLOTS + "/" + newest, caption + ", " + newest.replace(".png", ""));
        }
    }

    private boolean exists(String relative) throws IOException {
        return run.fs().exists(run.path(relative));
    }

    private JsonNode readJson(String relative) throws IOException {
        if (!exists(relative)) {
            return null;
        }
        try (InputStream in = run.fs().open(run.path(relative))) {
            return JSON.readTree(in);
        }
    }

    private static String duration(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%dh%02dm%02ds", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
    }
}
