package dev.rq.jobs.quickstart;

import com.fasterxml.jackson.databind.JsonNode;
import dev.rq.jobs.train.TrainVaeJob;
import dev.rq.report.HtmlReport;
import dev.rq.tables.TokenManifest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The HTML run report of {@link QuickstartJob} ({@code <out>/report.html}; images are relative paths). */
final class QuickstartReport {

    private final QuickstartJob.Options o;
    private final String out;
    private final TrainVaeJob.Result trained;
    private final JsonNode lastMetrics;
    private final TokenManifest manifest;
    private final Map<String, Long> rows;
    private final List<List<Object>> classCounts;
    private final List<String> splits;
    private final CodeUsage usage;
    private final JsonNode eval;
    private final ReconstructionStats.Summary psnr;

    QuickstartReport(QuickstartJob.Options o, String out, TrainVaeJob.Result trained, JsonNode lastMetrics,
            TokenManifest manifest, Map<String, Long> rows, List<List<Object>> classCounts, List<String> splits,
            CodeUsage usage, JsonNode eval, ReconstructionStats.Summary psnr) {
        this.o = o;
        this.out = out;
        this.trained = trained;
        this.lastMetrics = lastMetrics;
        this.manifest = manifest;
        this.rows = rows;
        this.classCounts = classCounts;
        this.splits = splits;
        this.usage = usage;
        this.eval = eval;
        this.psnr = psnr;
    }

    HtmlReport html(List<StageTimer.Stage> stages, double elapsed, double lastReportSeconds) {
        var t = o.config().train();
        var dd = o.config().model().ddconfig();
        HtmlReport r = HtmlReport.titled("rq quickstart: RQ-VAE stage 1 on " + o.data());

        Map<String, Object> kv = new LinkedHashMap<>();
        kv.put("PSNR (" + o.evalSplit() + ")", String.format(Locale.ROOT,
                "%.2f dB mean over %d images (median %.2f, min %.2f, max %.2f)", psnr.mean(), psnr.n(), psnr.median(),
                psnr.min(), psnr.max()));
        kv.put("output", out);
        kv.put("config", o.configSource());
        kv.put("model", String.format(Locale.ROOT, "%dx%d RGB, ch %d, ch_mult %s, codes %s, K = %d, shared codebook %s",
                dd.resolution(), dd.resolution(), dd.ch(), dd.chMult(), manifest.codeShape(), manifest.codebookSize(),
                manifest.sharedCodebook()));
        kv.put("training", String.format(Locale.ROOT, "%d steps, global batch %d, lr %s, %d ranks", trained.steps(),
                t.batchSize(), t.lr(), o.workers()));
        if (lastMetrics != null) {
            kv.put("last logged step", String.format(Locale.ROOT, "step %d: loss %.5f, recon %.5f, commitment %.5f,"
                    + " perplexity %s", lastMetrics.path("step").asLong(), lastMetrics.path("loss").asDouble(),
                    lastMetrics.path("recon_loss").asDouble(), lastMetrics.path("commit_loss").asDouble(),
                    perplexities(lastMetrics.path("perplexity"))));
        }
        kv.put("final checkpoint", trained.finalCheckpoint());
        kv.put("token table", out + "/" + QuickstartJob.TOKENS);
        double work = 0;
        for (StageTimer.Stage st : stages) {
            work += Double.isNaN(st.workSeconds()) ? 0 : st.workSeconds();
        }
        kv.put("wall time", QuickstartJob.minutes(elapsed) + " in this invocation until the report was written; "
                + QuickstartJob.minutes(work) + " summed over the stages' last runs that did their work");
        r.keyValues(kv);

        r.heading("Stage timings");
        List<List<Object>> st = new ArrayList<>();
        for (StageTimer.Stage s : stages) {
            st.add(List.of(s.name(), s.status(), QuickstartJob.minutes(s.seconds()),
                    Double.isNaN(s.workSeconds()) ? "" : QuickstartJob.minutes(s.workSeconds()), s.note()));
        }
        st.add(List.of("report", "running", "", Double.isNaN(lastReportSeconds) ? ""
                : QuickstartJob.minutes(lastReportSeconds) + " (previous)", "code usage, row counts, this page"));
        r.table(List.of("stage", "status", "this invocation", "when it last did its work", "note"), st);
        r.paragraph("Rerunning into the same output folder skips finished stages: training resumes from its last"
                + " checkpoint (and is not repeated when complete), the token table is rebuilt only for a new"
                + " checkpoint, decoding only for a new token table.");

        r.heading("Dataset");
        List<String> header = new ArrayList<>(List.of("class"));
        header.addAll(splits);
        r.table(header, classCounts);

        r.heading("Training");
        r.image(QuickstartJob.TRAIN + "/plots/loss.png", "training loss (total, reconstruction, commitment)");
        r.image(QuickstartJob.TRAIN + "/plots/codebook.png", "codebook perplexity per depth during training");

        r.heading("Reconstructions (" + o.evalSplit() + ")");
        int shown = Math.min(eval.path("rows").asInt(), QuickstartJob.SHOWN_PAIRS);
        r.image(QuickstartJob.EVAL + "/comparison.png", "rows of originals (evaluation transform) above their"
                + " reconstructions decoded from the token table: the first " + shown + " images of " + o.evalSplit());
        r.paragraph(eval.path("definition").asText());
        List<List<Object>> pt = new ArrayList<>();
        pt.add(psnrRow("all", eval.path("psnr")));
        eval.path("psnr_per_class").fields().forEachRemaining(e -> pt.add(psnrRow(e.getKey(), e.getValue())));
        r.table(List.of("images", "n", "mean PSNR dB", "median", "min", "max"), pt);
        r.paragraph("Every decoded image is in " + QuickstartJob.DECODE + "/ (index.html, grid.png, one PNG per row).");

        r.heading("Codebook usage per depth (" + o.evalSplit() + " token table, center crops)");
        r.image(QuickstartJob.EVAL + "/code-usage.png", "occurrences of each code, sorted by frequency, per depth");
        List<List<Object>> ut = new ArrayList<>();
        for (int d = 0; d < usage.depth(); d++) {
            ut.add(List.of(d, usage.counts()[d].length, usage.used(d),
                    String.format(Locale.ROOT, "%.1f", usage.perplexity(d)),
                    String.format(Locale.ROOT, "%.1f %%", 100 * usage.topShare(d)), usage.total(d)));
        }
        r.table(List.of("depth", "K", "codes used", "perplexity", "most frequent code", "codes counted"), ut);

        r.heading("Token table");
        List<List<Object>> rt = new ArrayList<>();
        manifest.splits().forEach((k, v) -> rt.add(List.of(k, v.images(), v.rows(), rows.getOrDefault(k, 0L))));
        r.table(List.of("split", "images", "rows (manifest)", "rows (counted)"), rt);
        r.paragraph("_tokens_manifest.json:");
        r.pre(manifest.toJson());

        r.heading("Run configuration");
        r.pre(QuickstartJob.configJson(o.config()));
        return r;
    }

    private static String perplexities(JsonNode values) {
        List<String> p = new ArrayList<>();
        values.forEach(v -> p.add(String.format(Locale.ROOT, "%.1f", v.asDouble())));
        return String.join(" / ", p);
    }

    private static List<Object> psnrRow(String name, JsonNode s) {
        return List.of(name, s.path("n").asInt(), fmt(s.path("mean").asDouble()), fmt(s.path("median").asDouble()),
                fmt(s.path("min").asDouble()), fmt(s.path("max").asDouble()));
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.2f", v);
    }
}
