package dev.rq.pipelines.quickstart;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.dataset.DatasetInfo;
import dev.rq.data.image.ImageDecodeException;
import dev.rq.jobs.decode.DecodeJob;
import dev.rq.tables.Views;
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
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.apache.hadoop.fs.Path;

/**
 * The <b>decode</b> stage: {@link DecodeJob} of the evaluation split's center-crop rows into {@code
 * <out>/decode} (decoded on the executors; every image also comes back to the driver, bounded by
 * {@code DecodeJob.checkDriverFits}), the PSNR of every reconstruction against its original (the evaluation transform of
 * the source image, as the tokenizer saw it), {@code eval/comparison.png}, and {@code eval/eval.json}
 * written last (it marks the stage done: skipped when it names the same table, checkpoint and rows).
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
        DecodeJob.Result d = DecodeJob.run(c.spark, new DecodeJob.Options(vae.finalCheckpoint(), c.tokensUri,
                c.decodeUri, limit, c.o.evalSplit(), Variant.CENTER.id, false, 0, List.of(),
                c.o.config().train().computePrecision(), Math.max(1, limit))); // every image back: the PSNR below
        int res = d.resolution();
        int len = 3 * res * res;
        float[] originals = originals(splits.get(c.o.evalSplit()), d.rows(), res);
        int n = d.rows().size();
        double[] psnr = new double[n];
        Map<String, List<Double>> perClass = new TreeMap<>();
        List<String> names = manifest.labelNames() == null ? List.of() : manifest.labelNames();
        for (int i = 0; i < n; i++) {
            psnr[i] = ReconstructionStats.psnr(originals, i * len, d.images(), i * len, len);
            Long label = d.rows().get(i).getLabel();
            String cls = label != null && label >= 0 && label < names.size() ? names.get(label.intValue())
                    : String.valueOf(label);
            perClass.computeIfAbsent(cls, k -> new ArrayList<>()).add(psnr[i]);
        }
        ReconstructionStats.Summary s = ReconstructionStats.Summary.of(psnr);
        writeComparison(originals, d.images(), Math.min(n, QuickstartJob.SHOWN_PAIRS), res);

        ObjectNode e = evalJson(d.rows(), psnr, s, perClass, res, vae, manifest);
        try (OutputStream os = c.evalDir.create("eval.json")) { // last: marks the stage done
            os.write(StageContext.JSON.writeValueAsBytes(e));
        }
        // the summary as eval.json keeps it, so that a rerun that skips this stage reports the same values
        return Outcome.ran(Evaluation.of(e), String.format(Locale.ROOT,
                "decoded %d %s rows; PSNR mean %.2f dB (median %.2f, min %.2f, max %.2f)", n, c.o.evalSplit(),
                s.mean(), s.median(), s.min(), s.max()));
    }

    /** The content of {@code eval/eval.json}: what was measured, the summaries, and every image's PSNR. */
    private ObjectNode evalJson(List<TokenRow> rows, double[] psnr, ReconstructionStats.Summary s,
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
            TokenRow r = rows.get(i);
            ObjectNode one = per.addObject();
            one.put("id", r.getId());
            one.put("label", r.getLabel());
            one.put("psnr", Math.round(psnr[i] * 1000) / 1000.0);
        }
        return e;
    }

    /** The model inputs (center view) of the decoded rows' source images, NCHW in [−1, 1]. */
    private static float[] originals(CanonicalDataset ds, List<TokenRow> rows, int res)
            throws IOException, ImageDecodeException {
        DatasetInfo info = ds.info();
        String rel = new Path(ds.splitDir().toString()).getName();
        Map<String, Long> shardStart = new HashMap<>();
        long start = 0;
        for (DatasetInfo.Shard sh : info.shards()) {
            shardStart.put(rel + "/" + sh.file(), start);
            start += sh.rows();
        }
        Map<Long, Integer> wanted = new HashMap<>();
        for (int i = 0; i < rows.size(); i++) {
            TokenRow r = rows.get(i);
            Long s0 = shardStart.get(r.getSourceShard());
            if (s0 == null) {
                throw new IllegalStateException("token row " + r.getId() + " comes from " + r.getSourceShard()
                        + ", which is not a shard of " + ds.splitDir());
            }
            wanted.put(s0 + r.getSourceRow(), i);
        }
        Views views = new Views(res);
        int len = views.tensorLength();
        float[] out = new float[rows.size() * len];
        int found = 0;
        for (CanonicalDataset.Sample s : ds.readAll()) {
            Integer i = wanted.get(s.index());
            if (i != null) {
                views.write(s.bytes(), List.of(Variant.CENTER), out, i * len);
                found++;
            }
        }
        if (found != rows.size()) {
            throw new IllegalStateException("found " + found + " of " + rows.size() + " source images in "
                    + ds.splitDir());
        }
        return out;
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
