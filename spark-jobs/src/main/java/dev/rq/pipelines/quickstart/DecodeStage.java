package dev.rq.pipelines.quickstart;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.jobs.decode.DecodeJob;
import dev.rq.jobs.decode.SourceImages;
import dev.rq.report.ImageGrid;
import dev.rq.tables.TokenManifest;
import dev.rq.tables.TokenRow;
import dev.rq.tables.Variant;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The <b>decode</b> stage: {@link DecodeJob} of the evaluation split's center-crop rows into {@code
 * <out>/decode}, decoded on the executors, where each task also measures the PSNR of every
 * reconstruction against its original ({@link SourceImages}: the evaluation transform of the source
 * image, as the tokenizer saw it). Back on the driver: every row's id, label and PSNR ({@link
 * DecodeJob.Score}, ~100 B a row) and the images of only the first {@link QuickstartJob#SHOWN_PAIRS}
 * rows, for {@code eval/comparison.png} (their originals read again on the driver); then {@code
 * eval/eval.json}, written last (it marks the stage done: skipped when it names the same table,
 * checkpoint and rows). Summaries over the per-row values in row order ({@link ReconstructionStats}).
 */
final class DecodeStage {

    private final StageContext c;

    DecodeStage(StageContext c) {
        this.c = c;
    }

    Outcome<Evaluation> decode(Splits splits, Trained vae, TokenManifest manifest) throws Exception {
        long available = manifest.splits().get(c.o.evalSplit()).rows(); // one variant per image
        int limit = (int) (c.o.decodeLimit() > 0 ? Math.min(c.o.decodeLimit(), available) : available);
        if (c.evalDir.exists("eval.json")) {
            try (InputStream in = c.evalDir.open("eval.json")) {
                JsonNode e = StageContext.JSON.readTree(in);
                if (e.path("table_created_at").asText().equals(manifest.createdAt())
                        && e.path("checkpoint_sha256").asText().equals(vae.modelSha256())
                        && e.path("rows").asInt() == limit) {
                    return Outcome.skipped(Evaluation.of(e), String.format(Locale.ROOT,
                            "already decoded %d rows of this table: PSNR %.2f dB", limit,
                            e.path("psnr").path("mean").asDouble()));
                }
            } catch (IOException ignored) {
                // decode again
            }
        }
        // the PSNR is measured in the decode tasks (SourceImages: each row's source image through the
        // evaluation transform, read there); only the comparison grid's images come back
        DecodeJob.Result d = DecodeJob.run(c.spark, new DecodeJob.Options(vae.finalCheckpoint(), c.tokensUri,
                c.decodeUri, limit, c.o.evalSplit(), Variant.CENTER.id, false, 0, List.of(),
                c.o.config().train().computePrecision(), QuickstartJob.SHOWN_PAIRS),
                new SourceImages(evalSplitUri(splits), c.spark.sparkContext().hadoopConfiguration()));
        int res = d.resolution();
        List<DecodeJob.Score> scores = d.scores();
        int n = scores.size();
        double[] psnr = new double[n];
        Map<String, List<Double>> perClass = new TreeMap<>();
        List<String> names = manifest.labelNames() == null ? List.of() : manifest.labelNames();
        for (int i = 0; i < n; i++) {
            psnr[i] = scores.get(i).psnr();
            Long label = scores.get(i).label();
            String cls = label != null && label >= 0 && label < names.size() ? names.get(label.intValue())
                    : String.valueOf(label);
            perClass.computeIfAbsent(cls, k -> new ArrayList<>()).add(psnr[i]);
        }
        ReconstructionStats.Summary s = ReconstructionStats.Summary.of(psnr);
        int shown = Math.min(n, QuickstartJob.SHOWN_PAIRS);
        List<TokenRow> first = d.rows().subList(0, shown);
        float[] originals = new SourceImages(evalSplitUri(splits), c.spark.sparkContext().hadoopConfiguration())
                .originals(first, res);
        writeComparison(originals, d.images(), shown, res);

        ObjectNode e = evalJson(scores, s, perClass, res, vae, manifest);
        try (OutputStream os = c.evalDir.create("eval.json")) { // last: marks the stage done
            os.write(StageContext.JSON.writeValueAsBytes(e));
        }
        // the summary as eval.json keeps it, so that a rerun that skips this stage reports the same values
        return Outcome.ran(Evaluation.of(e), String.format(Locale.ROOT,
                "decoded %d %s rows; PSNR mean %.2f dB (median %.2f, min %.2f, max %.2f)", n, c.o.evalSplit(),
                s.mean(), s.median(), s.min(), s.max()));
    }

    /** The content of {@code eval/eval.json}: what was measured, the summaries, and every image's PSNR. */
    private ObjectNode evalJson(List<DecodeJob.Score> rows, ReconstructionStats.Summary s,
            Map<String, List<Double>> perClass, int res, Trained vae, TokenManifest manifest) {
        int n = rows.size();
        ObjectNode e = StageContext.JSON.createObjectNode();
        e.put("split", c.o.evalSplit());
        e.put("rows", n);
        e.put("resolution", res);
        e.put("table_created_at", manifest.createdAt());
        e.put("checkpoint_sha256", vae.modelSha256());
        e.put("checkpoint", vae.finalCheckpoint());
        e.put("definition", "PSNR = 10 log10(1 / MSE) over C*H*W samples, original (evaluation transform of the"
                + " source image) and reconstruction (decoded from the table's codes, clamped) both mapped from"
                + " [-1, 1] to [0, 1]; summary over images");
        e.set("psnr", summaryJson(s));
        ObjectNode pc = e.putObject("psnr_per_class");
        perClass.forEach((k, v) -> pc.set(k, summaryJson(ReconstructionStats.Summary.of(
                v.stream().mapToDouble(Double::doubleValue).toArray()))));
        ArrayNode per = e.putArray("per_image");
        for (int i = 0; i < n; i++) {
            DecodeJob.Score r = rows.get(i);
            ObjectNode one = per.addObject();
            one.put("id", r.id());
            one.put("label", r.label());
            one.put("psnr", Math.round(r.psnr() * 1000) / 1000.0);
        }
        return e;
    }

    /** The URI of the evaluation split's canonical dataset folder (the table's source). */
    private String evalSplitUri(Splits splits) {
        return splits.get(c.o.evalSplit()).splitDir().toString();
    }

    /**
     * {@code eval/comparison.png}: per group of {@link QuickstartJob#GRID_COLUMNS}, a row of originals
     * above their reconstructions.
     */
    private void writeComparison(float[] originals, float[] recon, int n, int res) throws IOException {
        int cols = QuickstartJob.GRID_COLUMNS;
        int len = 3 * res * res;
        int groups = (n + cols - 1) / cols;
        int cells = groups * 2 * cols;
        float[] grid = new float[cells * len];
        java.util.Arrays.fill(grid, 1f); // empty cells are white
        for (int i = 0; i < n; i++) {
            int g = i / cols;
            int col = i % cols;
            System.arraycopy(originals, i * len, grid, ((2 * g) * cols + col) * len, len);
            System.arraycopy(recon, i * len, grid, ((2 * g + 1) * cols + col) * len, len);
        }
        BufferedImage img = ImageGrid.grid(grid, cells, 3, res, res, cols, 2, 0xFFFFFF);
        int scale = Math.max(1, 128 / res);
        try (OutputStream os = c.evalDir.create("comparison.png")) {
            ImageGrid.writePng(scale(img, scale), os);
        }
    }

    private static BufferedImage scale(BufferedImage img, int f) {
        if (f == 1) {
            return img;
        }
        BufferedImage s = new BufferedImage(img.getWidth() * f, img.getHeight() * f, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = s.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_NEAREST_NEIGHBOR);
            g.drawImage(img, 0, 0, s.getWidth(), s.getHeight(), null);
        } finally {
            g.dispose();
        }
        return s;
    }

    private static ObjectNode summaryJson(ReconstructionStats.Summary s) {
        ObjectNode n = StageContext.JSON.createObjectNode();
        n.put("n", s.n());
        n.put("mean", Math.round(s.mean() * 1000) / 1000.0);
        n.put("median", Math.round(s.median() * 1000) / 1000.0);
        n.put("min", Math.round(s.min() * 1000) / 1000.0);
        n.put("max", Math.round(s.max() * 1000) / 1000.0);
        return n;
    }
}
