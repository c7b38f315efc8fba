package dev.rq.pipelines.quickstart;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.report.LineChart;
import dev.rq.tables.CodeUsage;
import dev.rq.tables.TokenManifest;
import dev.rq.tables.TokenTable;
import dev.rq.tables.TokenTableSchema;
import dev.rq.tables.Variant;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.hadoop.fs.Path;

/**
 * The <b>report</b> stage (always runs): row counts per split of the token table (counted and
 * checked against the manifest), code usage per depth of the evaluation split ({@code
 * eval/code-usage.png}), the stage-2 curves ({@code eval/stage2-bits.png}, {@code
 * eval/stage2-heldout-depths.png}), the summaries in {@code quickstart.json}, and {@code
 * <out>/report.html} ({@link QuickstartReport}).
 */
final class ReportStage {

    private final StageContext c;

    ReportStage(StageContext c) {
        this.c = c;
    }

    /**
     * What the report shows: the results of the stages before it.
     *
     * @param splits the dataset splits (ingest)
     * @param vae the trained RQ-VAE (train)
     * @param manifest the token table's manifest (tokenize)
     * @param eval the reconstructions, measured (decode)
     * @param stage2 the stage-2 result (sample), or null without stage 2
     */
    record Inputs(Splits splits, Trained vae, TokenManifest manifest, Evaluation eval,
            QuickstartJob.Stage2Result stage2) {}

    /**
     * @param in the results of the stages before
     * @param t0 {@link System#nanoTime()} at the start of the invocation (the report's wall time so far)
     * @return the table's rows per split (counted)
     */
    Outcome<Map<String, Long>> report(Inputs in, long t0) throws IOException {
        Map<String, Long> rows = new LinkedHashMap<>();
        TokenTable table = TokenTable.read(c.spark, c.tokensUri);
        table.verifyCounts();
        for (var r : table.rows().groupBy(TokenTableSchema.SPLIT).count().collectAsList()) {
            rows.put(r.get(0).toString(), r.getLong(1));
        }
        String evalSplit = c.o.evalSplit();
        CodeUsage usage = CodeUsage.of(table, evalSplit, Variant.CENTER.id);
        LineChart chart = LineChart.of("code usage per depth (" + evalSplit + ", codes sorted by frequency)",
                "code rank", "occurrences").logY(true);
        for (int d = 0; d < usage.depth(); d++) {
            chart.add(String.format(Locale.ROOT, "depth %d (ppl %.1f, %d used)", d, usage.perplexity(d),
                    usage.used(d)), usage.sortedDescending(d));
        }
        try (OutputStream os = c.evalDir.create("code-usage.png")) {
            os.write(chart.png());
        }
        ObjectNode u = StageContext.JSON.createObjectNode();
        ArrayNode ppl = u.putArray("perplexity");
        ArrayNode used = u.putArray("used");
        for (int d = 0; d < usage.depth(); d++) {
            ppl.add(Math.round(usage.perplexity(d) * 100) / 100.0);
            used.add(usage.used(d));
        }
        c.timer.put("code_usage_" + evalSplit, u);
        c.timer.put("psnr_" + evalSplit, in.eval().json().path("psnr"));
        c.timer.put("precision", StageContext.JSON.getNodeFactory().textNode(c.o.config().train().computePrecision().id()));
        QuickstartReport.Stage2 s2 = null;
        if (in.stage2() != null) {
            s2 = stage2Report(usage, in.manifest(), in.stage2());
        }
        QuickstartReport report = new QuickstartReport(c.o, c.out.uri(), in.vae(),
                c.lastMetrics(c.trainUri), in.manifest(), rows, in.splits().countRows(),
                new ArrayList<>(in.splits().datasets().keySet()), usage, in.eval().json(), in.eval().psnr(), s2);
        List<StageTimer.Stage> stages = new ArrayList<>(c.timer.stages());
        double sofar = (System.nanoTime() - t0) / 1e9;
        try (OutputStream os = c.out.create(QuickstartJob.REPORT)) {
            report.html(stages, sofar, c.timer.lastWorkSeconds("report")).write(os);
        }
        StringBuilder note = new StringBuilder(String.format(Locale.ROOT, "%s; code usage perplexity per depth",
                new Path(c.out.path(), QuickstartJob.REPORT)));
        for (int d = 0; d < usage.depth(); d++) {
            note.append(String.format(Locale.ROOT, " %.1f", usage.perplexity(d)));
        }
        return Outcome.ran(rows, note.toString());
    }

    /**
     * The stage-2 curves ({@code eval/stage2-bits.png}, {@code eval/stage2-heldout-depths.png}) from
     * the run's metrics and {@code heldout.jsonl}, and the stage-2 summary in {@code
     * quickstart.json}.
     */
    private QuickstartReport.Stage2 stage2Report(CodeUsage usage, TokenManifest manifest,
            QuickstartJob.Stage2Result res) throws IOException {
        List<JsonNode> metrics = c.metrics(c.stage2Uri);
        List<JsonNode> held = c.lines(c.stage2Uri, QuickstartJob.HELD_OUT);
        int depth = manifest.codeShape().get(2);
        double ln2 = Math.log(2);
        double[] steps = new double[metrics.size()];
        double[] lossBits = new double[metrics.size()];
        double[] trainBits = new double[metrics.size()];
        for (int i = 0; i < metrics.size(); i++) {
            JsonNode m = metrics.get(i);
            steps[i] = m.path("step").asDouble();
            lossBits[i] = m.path("loss").asDouble() / ln2;
            trainBits[i] = m.path("bits_per_code").asDouble();
        }
        double[] hSteps = new double[held.size()];
        double[] hMean = new double[held.size()];
        double[][] hDepth = new double[depth][held.size()];
        for (int i = 0; i < held.size(); i++) {
            hSteps[i] = held.get(i).path("step").asDouble();
            BitsPerCode bpc = BitsPerCode.of(held.get(i).path("bits_per_code"));
            double[] b = bpc.perDepth();
            hMean[i] = bpc.mean();
            for (int d = 0; d < depth && d < b.length; d++) {
                hDepth[d][i] = b[d];
            }
        }
        String evalSplit = c.o.evalSplit();
        LineChart curves = LineChart.of("stage 2: bits per code (mean over the " + depth + " depths)", "step",
                "bits per code");
        if (c.o.stage2().config().loss().soft()) { // with hard targets the loss / ln 2 is the bits/code below
            curves.add("training loss (soft-target cross-entropy) / ln 2", steps, lossBits);
        }
        curves.add("training: bits/code of the input codes (logged steps)", steps, trainBits)
                .add("held-out (" + evalSplit + "): bits/code (checkpoints)", hSteps, hMean);
        writeChart(curves, QuickstartJob.STAGE2_CURVES, "held-out");
        LineChart depths = LineChart.of("stage 2: held-out bits per code per depth (" + evalSplit + ")",
                "step", "bits per code");
        for (int d = 0; d < depth; d++) {
            depths.add("depth " + d, hSteps, hDepth[d]);
        }
        writeChart(depths, QuickstartJob.STAGE2_DEPTHS, "depth");

        ObjectNode n = StageContext.JSON.createObjectNode();
        n.put("steps", res.steps());
        n.put("precision", c.o.stage2().config().train().computePrecision().id());
        n.put("final_checkpoint", res.finalCheckpoint());
        n.put("held_out_split", evalSplit);
        n.put("held_out_step", res.heldOutStep());
        ArrayNode bits = n.putArray("held_out_bits_per_code");
        for (double b : res.heldOutBitsPerCode()) {
            bits.add(Math.round(b * 1000) / 1000.0);
        }
        n.put("held_out_mean_bits_per_code", Math.round(res.heldOutMeanBitsPerCode() * 1000) / 1000.0);
        n.put("uniform_bits_per_code", Math.round(BitsPerCode.uniform(manifest.codebookSize()) * 1000) / 1000.0);
        n.put("samples", res.samplesUri());
        n.put("samples_per_class", c.o.stage2().perClass());
        n.put("sample_seed", c.o.stage2().seed());
        c.timer.put("stage2", n);
        return new QuickstartReport.Stage2(c.o.stage2(), res, metrics.isEmpty() ? null
                : metrics.get(metrics.size() - 1), held.isEmpty() ? null : held.get(held.size() - 1), usage);
    }

    /** Writes a chart into {@code eval/}; series whose name starts with {@code marked} get point markers. */
    private void writeChart(LineChart chart, String file, String marked) throws IOException {
        org.knowm.xchart.XYChart x = chart.toXChart();
        x.getSeriesMap().forEach((name, series) -> {
            if (name.startsWith(marked)) {
                series.setMarker(org.knowm.xchart.style.markers.SeriesMarkers.CIRCLE);
            }
        });
        x.getStyler().setMarkerSize(6);
        try (OutputStream os = c.evalDir.create(file)) {
            os.write(org.knowm.xchart.BitmapEncoder.getBitmapBytes(x, org.knowm.xchart.BitmapEncoder.BitmapFormat.PNG));
        }
    }
}
