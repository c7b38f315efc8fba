package dev.rq.pipelines.quickstart;

import com.fasterxml.jackson.databind.JsonNode;
import dev.rq.model.config.Configs;
import dev.rq.report.HtmlReport;
import dev.rq.tables.CodeUsage;
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
    private final Trained trained;
    private final JsonNode lastMetrics;
    private final TokenManifest manifest;
    private final Map<String, Long> rows;
    private final List<List<Object>> classCounts;
    private final List<String> splits;
    private final CodeUsage usage;
    private final JsonNode eval;
    private final ReconstructionStats.Summary psnr;
    private final Stage2 stage2;

    /**
     * What the stage-2 section shows.
     *
     * @param options the stage-2 options
     * @param result the stage-2 outcome
     * @param lastMetrics the last logged training step (null: none)
     * @param lastHeldOut the last held-out evaluation line (null: none)
     * @param usage code usage of the held-out split's table (unigram baseline)
     */
    record Stage2(QuickstartJob.Stage2 options, QuickstartJob.Stage2Result result, JsonNode lastMetrics,
            JsonNode lastHeldOut, CodeUsage usage) {}

    QuickstartReport(QuickstartJob.Options o, String out, Trained trained, JsonNode lastMetrics,
            TokenManifest manifest, Map<String, Long> rows, List<List<Object>> classCounts, List<String> splits,
            CodeUsage usage, JsonNode eval, ReconstructionStats.Summary psnr, Stage2 stage2) {
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
        this.stage2 = stage2;
    }

    HtmlReport html(List<StageTimer.Stage> stages, double elapsed, double lastReportSeconds) {
        var t = o.config().train();
        var dd = o.config().model().ddconfig();
        HtmlReport r = HtmlReport.titled(stage2 == null ? "rq quickstart: RQ-VAE stage 1 on " + o.data()
                : "rq quickstart: RQ-VAE (stage 1) and RQ-Transformer (stage 2) on " + o.data());

        Map<String, Object> kv = new LinkedHashMap<>();
        kv.put("PSNR (" + o.evalSplit() + ")", String.format(Locale.ROOT,
                "%.2f dB mean over %d images (median %.2f, min %.2f, max %.2f)", psnr.mean(), psnr.n(), psnr.median(),
                psnr.min(), psnr.max()));
        if (stage2 != null && stage2.result().heldOutBitsPerCode().length > 0) {
            kv.put("bits per code (" + o.evalSplit() + ", stage 2)", String.format(Locale.ROOT,
                    "%.3f mean over depths (per depth %s; uniform over K = %d: %.3f) at step %d",
                    stage2.result().heldOutMeanBitsPerCode(), new BitsPerCode(stage2.result()
                            .heldOutBitsPerCode()).perDepthText(), manifest.codebookSize(), BitsPerCode.uniform(manifest.codebookSize()),
                    stage2.result().heldOutStep()));
        }
        kv.put("output", out);
        kv.put("config", o.configSource());
        kv.put("model", String.format(Locale.ROOT, "%dx%d RGB, ch %d, ch_mult %s, codes %s, K = %d, shared codebook %s",
                dd.resolution(), dd.resolution(), dd.ch(), dd.chMult(), manifest.codeShape(), manifest.codebookSize(),
                manifest.sharedCodebook()));
        kv.put("training", String.format(Locale.ROOT, "%d steps, global batch %d, lr %s, %d ranks, %s", trained.steps(),
                t.batchSize(), t.lr(), o.workers(), t.computePrecision().id()));
        kv.put("stage-1 objective", objective(o.config()));
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
        kv.put("wall time", StageTimer.duration(elapsed) + " in this invocation until the report was written; "
                + StageTimer.duration(work) + " summed over the stages' last runs that did their work");
        r.keyValues(kv);

        r.heading("Stage timings");
        List<List<Object>> st = new ArrayList<>();
        for (StageTimer.Stage s : stages) {
            st.add(List.of(s.name(), s.status().label(), StageTimer.duration(s.seconds()),
                    Double.isNaN(s.workSeconds()) ? "" : StageTimer.duration(s.workSeconds()), s.note()));
        }
        st.add(List.of("report", "running", "", Double.isNaN(lastReportSeconds) ? ""
                : StageTimer.duration(lastReportSeconds) + " (previous)", "code usage, row counts, this page"));
        r.table(List.of("stage", "status", "this invocation", "when it last did its work", "note"), st);
        r.paragraph("Rerunning into the same output folder skips finished stages: training resumes from its last"
                + " checkpoint (and is not repeated when complete), the token table is rebuilt only for a new"
                + " checkpoint, decoding only for a new token table"
                + (stage2 == null ? "." : "; stage-2 training resumes and skips like stage 1, sampling is redone only"
                + " for a new stage-2 checkpoint or other sampling options."));

        r.heading("Dataset");
        List<String> header = new ArrayList<>(List.of("class"));
        header.addAll(splits);
        r.table(header, classCounts);

        r.heading("Training");
        r.link(QuickstartJob.TRAIN + "/report.html", "the training run's own report", " (timings, checkpoints,"
                + " reconstructions during training, configuration)");
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

        if (stage2 != null) {
            stage2(r);
        }

        r.heading("Run configuration");
        r.pre(configJson(o.config()));
        if (stage2 != null) {
            r.paragraph("Stage 2 (" + stage2.options().configSource() + "; vae.checkpoint is set to the final stage-1"
                    + " checkpoint):");
            r.pre(configJson(stage2.options().config()));
        }
        return r;
    }

    /** The stage-2 section: configuration summary, curves, bits per code per depth, samples. */
    private void stage2(HtmlReport r) {
        var c = stage2.options().config();
        var m = c.model();
        var t = c.train();
        QuickstartJob.Stage2Result res = stage2.result();
        r.heading("Stage 2: RQ-Transformer");
        Map<String, Object> kv = new LinkedHashMap<>();
        kv.put("config", stage2.options().configSource());
        kv.put("model", String.format(Locale.ROOT, "dim %d, %d spatial + %d depth layers, %d heads, %d classes,"
                + " codes %s, K = %d", m.embedDim(), m.body().nLayer(), m.head().nLayer(), m.body().block().nHead(),
                m.vocabSizeCond(), m.blockSize(), m.vocab(0)));
        kv.put("classifier-free guidance", m.hasNullClass() ? String.format(Locale.ROOT, "class dropped to the null"
                + " class with p = %s in training; samples at guidance scale %s", m.condDropProb(),
                c.sampling().cfgScale()) : "off (model.cond_drop_prob 0)");
        kv.put("training", String.format(Locale.ROOT, "%d steps on %s, global batch %d, lr %s (%s), %d ranks, %s; loss %s%s",
                res.steps(), o.splits().get(0), t.batchSize(), t.lr(), t.schedule(), o.workers(),
                t.computePrecision().id(), c.loss().type(),
                c.loss().soft() ? String.format(Locale.ROOT, " (temperature %s, stochastic codes %s)", c.loss().temp(),
                        c.loss().stochasticCodes()) : ""));
        kv.put("final checkpoint", res.finalCheckpoint());
        JsonNode lm = stage2.lastMetrics();
        if (lm != null) {
            kv.put("last logged step", String.format(Locale.ROOT, "step %d: loss %.4f, bits/code of the input codes"
                    + " %.3f", lm.path("step").asLong(), lm.path("loss").asDouble(), lm.path("bits_per_code").asDouble()));
        }
        r.keyValues(kv);
        r.link(QuickstartJob.STAGE2 + "/report.html", "the stage-2 training run's own report", " (timings,"
                + " checkpoints, samples during training, configuration)");
        r.image(QuickstartJob.EVAL + "/" + QuickstartJob.STAGE2_CURVES, "stage-2 loss curves: training bits per"
                + " code (logged steps; with hard targets this is the training loss / ln 2) and held-out bits per code"
                + " (at every checkpoint), mean over depths");
        r.image(QuickstartJob.EVAL + "/" + QuickstartJob.STAGE2_DEPTHS, "held-out bits per code per depth at every"
                + " checkpoint");

        r.heading("Bits per code (" + o.evalSplit() + ")");
        r.paragraph("Held-out bits per code = the transformer's negative log-likelihood (hard targets, eval mode) of the "
                + o.evalSplit() + " split's codes, in bits, averaged over positions and rows"
                + (stage2.lastHeldOut() == null ? "" : " (" + stage2.lastHeldOut().path("rows").asInt() + " rows, step "
                + res.heldOutStep() + ")") + ". For comparison: log2 K (a uniform guess) and the entropy of the "
                + o.evalSplit() + " codes' own frequencies per depth (log2 of the usage perplexity; a model without"
                + " context that knew these frequencies).");
        CodeUsage usage = stage2.usage();
        List<List<Object>> bt = new ArrayList<>();
        double[] held = res.heldOutBitsPerCode();
        double[] train = lm == null ? new double[0] : BitsPerCode.of(lm.path("bits_per_code_per_depth")).perDepth();
        for (int d = 0; d < held.length; d++) {
            bt.add(List.of(d, fmt3(held[d]), d < train.length ? fmt3(train[d]) : "",
                    d < usage.depth() ? fmt3(BitsPerCode.ofPerplexity(usage.perplexity(d))) : "",
                    fmt3(BitsPerCode.uniform(usage.counts()[Math.min(d, usage.depth() - 1)].length))));
        }
        if (held.length > 0) {
            double u = 0;
            for (int d = 0; d < usage.depth(); d++) {
                u += BitsPerCode.ofPerplexity(usage.perplexity(d)) / usage.depth();
            }
            bt.add(List.of("mean", fmt3(res.heldOutMeanBitsPerCode()), lm == null ? ""
                    : fmt3(lm.path("bits_per_code").asDouble()), fmt3(u),
                    fmt3(BitsPerCode.uniform(usage.counts()[0].length))));
            int codes = manifest.codeShape().stream().reduce(1, (a, b) -> a * b);
            r.paragraph(String.format(Locale.ROOT, "Per image: %d codes x %.3f = %.0f bits held-out.", codes,
                    res.heldOutMeanBitsPerCode(), codes * res.heldOutMeanBitsPerCode()));
        }
        r.table(List.of("depth", "held-out bits/code", "training bits/code (last logged step, input codes)",
                "unigram entropy of the " + o.evalSplit() + " codes", "uniform (log2 K)"), bt);

        r.heading("Samples");
        r.image(QuickstartJob.EVAL + "/" + QuickstartJob.SAMPLE_OVERVIEW, String.format(Locale.ROOT,
                "class-conditional samples, one row per class (the first %d of %d per class, seed %d, the config's"
                + " sampling settings: temperature %s, top-k %s, top-p %s, classifier-free guidance scale %s)",
                Math.min(QuickstartJob.SAMPLE_COLUMNS, stage2.options().perClass()), stage2.options().perClass(),
                stage2.options().seed(), c.sampling().temperature(),
                c.sampling().topK() == null ? "none" : c.sampling().topK(),
                c.sampling().topP() == null ? "none" : c.sampling().topP(),
                c.sampling().guided() ? c.sampling().cfgScale() : "1 (none)"));
        List<String> names = manifest.labelNames() == null ? List.of() : manifest.labelNames();
        r.paragraph("Per-class grids (" + QuickstartJob.SAMPLES + "/grids/, all samples of a class):");
        for (int i = 0; i < res.grids().size(); i++) {
            r.image(QuickstartJob.SAMPLES + "/" + res.grids().get(i), "class " + i
                    + (i < names.size() ? " " + names.get(i) : "") + ": " + stage2.options().perClass() + " samples");
        }
        r.paragraph("Every sample is in " + QuickstartJob.SAMPLES + "/ (images/class-<c>/<i>.png, grids/,"
                + " index.html, and the generated codes as a token table in codes/).");
    }

    private static String fmt3(double v) {
        return String.format(Locale.ROOT, "%.3f", v);
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

    /** @return the config as pretty JSON */
    private static String configJson(Object config) {
        try {
            return StageContext.JSON.writeValueAsString(Configs.toTree(config));
        } catch (java.io.IOException e) {
            return Configs.toCanonicalJson(config);
        }
    }

    /** @return the stage-1 objective in words (the quickstart trains without LPIPS and GAN unless asked) */
    static String objective(dev.rq.model.config.RqVaeRunConfig c) {
        String base = c.model().hparams().lossType().toUpperCase(Locale.ROOT) + " reconstruction + "
                + c.model().hparams().latentLossWeight() + " x commitment";
        if (c.gan() == null) {
            return base + " (no LPIPS or GAN: give the LPIPS weights with --set gan.loss.perceptual_weights=<URI>"
                    + " to train with the official LPIPS + patch-GAN objective, docs/training.md)";
        }
        var l = c.gan().loss();
        return base + (l.perceptual() ? " + " + l.perceptualWeight() + " x LPIPS" : "") + " + adaptive-weighted "
                + l.discLoss() + " patch GAN (disc_weight " + l.discWeight() + ", from epoch " + l.discStart() + ")";
    }
}
