package dev.rq.jobs.eval;

import dev.rq.report.HtmlReport;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The evaluation section of an HTML report: the numbers of an {@link EvalSummary} (means and
 * medians of the per-image metrics, rFID or FID and Inception Score, codebook usage and perplexity
 * per depth), how they were computed, and notes (what was not computed, caveats). {@code rq eval} writes it as its
 * own {@code report.html}; other reports (training, quickstart) can append it.
 */
public final class EvalReport {

    private EvalReport() {}

    /** Appends the section for {@code s} to {@code r}. */
    public static HtmlReport section(HtmlReport r, EvalSummary s) {
        r.heading("reconstruction".equals(s.mode()) ? "Reconstruction quality" : "Generated images");
        Map<String, Object> kv = new LinkedHashMap<>();
        EvalSummary.Inputs in = s.inputs();
        put(kv, "checkpoint", in.checkpoint() == null ? null
                : in.checkpoint() + (in.step() == null ? "" : " (step " + in.step() + ")"));
        put(kv, "dataset", in.data() == null ? null : in.data() + (in.split() == null ? "" : " [" + in.split() + "]"));
        put(kv, "generated images", in.generated());
        put(kv, "reference", in.reference());
        put(kv, "reference images", in.referenceImages());
        put(kv, "resolution", in.resolution());
        kv.put("images", s.images());
        put(kv, "rFID", s.rfid() == null ? null : fmt(s.rfid(), 4));
        put(kv, "FID", s.fid() == null ? null : fmt(s.fid(), 4));
        put(kv, "Inception Score", s.inceptionScore() == null ? null
                : fmt(s.inceptionScore().mean(), 3) + " ± " + fmt(s.inceptionScore().std(), 3) + " ("
                        + s.inceptionScore().parts() + " parts)");
        put(kv, "PSNR (dB)", scalar(s.psnr(), 2));
        put(kv, "SSIM", scalar(s.ssim(), 4));
        put(kv, "LPIPS", scalar(s.lpips(), 4));
        r.keyValues(kv);
        if (s.codebook() != null && !s.codebook().isEmpty()) {
            List<List<Object>> rows = new ArrayList<>();
            for (EvalSummary.Depth d : s.codebook()) {
                rows.add(List.of(d.depth(), d.used() + " / " + d.size(), fmt(d.perplexity(), 1),
                        fmt(100 * d.topShare(), 2) + " %"));
            }
            r.paragraph("Codebook usage of the evaluated images, per depth (perplexity exp(−Σ p·ln p): K when"
                    + " every code is used equally, 1 when one code is used).");
            r.table(List.of("depth", "codes used", "perplexity", "most frequent code"), rows);
        }
        if (s.protocol() != null) {
            s.protocol().forEach(r::paragraph);
        }
        if (s.notes() != null) {
            s.notes().forEach(n -> r.paragraph("Note: " + n));
        }
        return r;
    }

    private static void put(Map<String, Object> kv, String key, Object value) {
        if (value != null) {
            kv.put(key, value);
        }
    }

    private static String scalar(FeatureStats.Scalar s, int digits) {
        return s == null ? null : "mean " + fmt(s.mean(), digits) + ", median " + fmt(s.median(), digits) + " (min "
                + fmt(s.min(), digits) + ", max " + fmt(s.max(), digits) + ", " + s.n() + " images)";
    }

    static String fmt(double v, int digits) {
        return String.format(Locale.ROOT, "%." + digits + "f", v);
    }
}
