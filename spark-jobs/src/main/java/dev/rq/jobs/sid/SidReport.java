package dev.rq.jobs.sid;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.io.HadoopDir;
import dev.rq.report.HtmlReport;
import dev.rq.report.LineChart;
import dev.rq.tables.SidManifest;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * The semantic-ID report: the statistics of several ID tables (one per method, e.g. RQ-VAE and
 * RQ-KMeans) side by side, as {@code report.html} and {@code report.json} in one folder, with a
 * per-level perplexity chart ({@code plots/sid-perplexity.png}).
 *
 * <p>Rows: per-level codebook utilisation and perplexity, the unique-SID ratio before the dedup
 * level, the collision rate and the largest collision group, reconstruction MSE and cosine
 * similarity, prefix purity per prefix length (with a label column), item counts and timings.
 */
public final class SidReport {

    /** Report file names. */
    public static final String HTML = "report.html";
    /** JSON twin of the report. */
    public static final String JSON_FILE = "report.json";

    private static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * One column of the report.
     *
     * @param name column title (the method)
     * @param table the ID table URI
     * @param manifest its manifest
     * @param training what the training run reports (steps, seconds, items/s, last losses), or null
     */
    public record Entry(String name, String table, SidManifest manifest, JsonNode training) {}

    private SidReport() {}

    /**
     * Writes {@code report.html}, {@code report.json} and the chart into {@code dir}.
     *
     * @param title report title
     * @param intro one paragraph under the title (data, config)
     * @param extra key/values shown under the intro (timings, paths), also in the JSON
     * @param images relative image paths (loss curves) with captions
     */
    public static void write(Path dir, Configuration conf, String title, String intro, Map<String, Object> extra,
            List<Entry> entries, Map<String, String> images) throws IOException {
        FileSystem fs = dir.getFileSystem(conf);
        fs.mkdirs(new Path(dir, "plots"));
        LineChart chart = LineChart.of("codebook perplexity per level", "level", "perplexity");
        for (Entry e : entries) {
            List<Double> p = e.manifest().statistics().perplexity();
            chart.add(e.name(), p.stream().mapToDouble(Double::doubleValue).toArray());
        }
        write(fs, new Path(dir, "plots/sid-perplexity.png"), chart.png());

        HtmlReport r = HtmlReport.titled(title).paragraph(intro);
        if (!extra.isEmpty()) {
            r.keyValues(extra);
        }
        r.heading("Semantic IDs side by side");
        List<String> header = new ArrayList<>(List.of("metric"));
        entries.forEach(e -> header.add(e.name()));
        List<List<Object>> rows = new ArrayList<>();
        rows.add(row("items in the ID table", entries, e -> e.manifest().counts().items()));
        rows.add(row("rejected input rows", entries, e -> e.manifest().counts().rejected() + " "
                + e.manifest().counts().rejectedByReason()));
        rows.add(row("unique-SID ratio (before dedup)", entries,
                e -> f4(e.manifest().collisions().uniqueSidRatio())));
        rows.add(row("collision rate (items sharing their sid)", entries,
                e -> f4(e.manifest().collisions().collisionRate())));
        rows.add(row("largest collision group", entries, e -> e.manifest().collisions().largestGroup()));
        rows.add(row("distinct sids", entries, e -> e.manifest().collisions().uniqueSids()));
        rows.add(row("reconstruction MSE", entries, e -> String.format(Locale.ROOT, "%.6f",
                e.manifest().statistics().reconstructionMse())));
        rows.add(row("cosine similarity (x, x̂)", entries, e -> f4(e.manifest().statistics().cosineSimilarity())));
        rows.add(row("items reconstructed for MSE and cosine", entries,
                e -> e.manifest().statistics().reconstructedItems()));
        int depth = entries.stream().mapToInt(e -> e.manifest().codebooks().depth()).max().orElse(0);
        for (int d = 0; d < depth; d++) {
            int level = d;
            rows.add(row("level " + d + ": codes used", entries, e -> level < e.manifest().statistics().usedFraction()
                    .size() ? String.format(Locale.ROOT, "%.1f %% of %d", 100 * e.manifest().statistics()
                            .usedFraction().get(level), e.manifest().codebooks().shapes().get(level).get(0)) : ""));
            rows.add(row("level " + d + ": perplexity", entries, e -> level < e.manifest().statistics().perplexity()
                    .size() ? String.format(Locale.ROOT, "%.1f", e.manifest().statistics().perplexity().get(level)) : ""));
        }
        for (int k = 1; k <= depth; k++) {
            int len = k;
            if (entries.stream().anyMatch(e -> e.manifest().statistics().prefixPurity() != null)) {
                rows.add(row("prefix purity, first " + k + " code" + (k > 1 ? "s" : ""), entries, e -> {
                    List<Double> p = e.manifest().statistics().prefixPurity();
                    return p == null || len > p.size() ? "(no label)" : f4(p.get(len - 1));
                }));
            }
        }
        rows.add(row("assign-sid time", entries, e -> String.format(Locale.ROOT, "%.1f s (%.0f items/s)",
                e.manifest().job().seconds(), e.manifest().job().itemsPerSecond())));
        rows.add(row("training", entries, e -> e.training() == null ? "" : e.training().path("summary").asText()));
        rows.add(row("ID table", entries, SidReport.Entry::table));
        r.table(header, rows);
        r.paragraph("Unique-SID ratio: distinct code tuples / items. Collision rate: the fraction of items whose"
                + " code tuple is shared with another item (they differ only in the dedup code). Prefix purity at k:"
                + " the fraction of labelled items whose label is the majority label of the items sharing their"
                + " first k codes. Perplexity: exp(entropy) of a level's code histogram (at most K).");
        r.image("plots/sid-perplexity.png", "codebook perplexity per level");
        images.forEach(r::image);

        ObjectNode json = JSON.createObjectNode();
        json.put("title", title);
        json.set("summary", JSON.valueToTree(extra));
        ObjectNode methods = json.putObject("methods");
        for (Entry e : entries) {
            ObjectNode m = methods.putObject(e.name());
            m.put("table", e.table());
            m.set("counts", JSON.valueToTree(e.manifest().counts()));
            m.set("collisions", JSON.valueToTree(e.manifest().collisions()));
            m.set("statistics", JSON.valueToTree(e.manifest().statistics()));
            m.set("model", JSON.valueToTree(e.manifest().model()));
            m.set("job", JSON.valueToTree(e.manifest().job()));
            if (e.training() != null) {
                m.set("training", e.training());
            }
        }
        write(fs, new Path(dir, JSON_FILE), JSON.writeValueAsBytes(json));
        write(fs, new Path(dir, HTML), r.toHtml().getBytes(StandardCharsets.UTF_8));
    }

    private static List<Object> row(String metric, List<Entry> entries, Function<Entry, Object> value) {
        List<Object> r = new ArrayList<>();
        r.add(metric);
        entries.forEach(e -> r.add(value.apply(e)));
        return r;
    }

    private static String f4(double v) {
        return String.format(Locale.ROOT, "%.4f", v);
    }

    private static void write(FileSystem fs, Path p, byte[] bytes) throws IOException {
        try (OutputStream out = HadoopDir.createFile(fs, p)) { // complete under its name, or not there
            out.write(bytes);
        }
    }

    /** @return the entries of the named ID tables (name → URI), reading their manifests */
    public static List<Entry> entries(Map<String, String> tables, Configuration conf) throws IOException {
        List<Entry> out = new ArrayList<>();
        for (Map.Entry<String, String> t : new LinkedHashMap<>(tables).entrySet()) {
            out.add(new Entry(t.getKey(), t.getValue(), SidManifest.read(new Path(t.getValue()), conf), null));
        }
        return out;
    }
}
