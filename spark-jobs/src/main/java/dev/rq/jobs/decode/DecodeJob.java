package dev.rq.jobs.decode;

import static org.apache.spark.sql.functions.col;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.executor.TaskDevice;
import dev.rq.io.HadoopDir;
import dev.rq.io.StagedOutput;
import dev.rq.jobs.JobGroup;
import dev.rq.model.checkpoint.ModelHashes;
import dev.rq.model.config.QuantizerConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.NoGrad;
import dev.rq.model.engine.Precision;
import dev.rq.model.vae.RqVae;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.report.HtmlReport;
import dev.rq.report.ImageGrid;
import dev.rq.tables.TokenManifest;
import dev.rq.tables.TokenRow;
import dev.rq.tables.TokenTable;
import dev.rq.tables.Variant;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code rq decode}: images from a token table. Reads the first {@code limit} rows (ordered by
 * split, source shard, source row, variant), decodes their codes with the RQ-VAE on the driver
 * ({@link RqVae#decodeCodes}, fixed-size batches, on the driver's GPU if Spark assigned it one
 * ({@code spark.driver.resource.gpu.amount}), else on the CPU) and writes one PNG per row ({@code
 * <output>/<split>/<nnnnn>_<id>_v<variant>.png}), {@code grid.png}, {@code index.html} and, last,
 * {@link #MARKER} ({@link StagedOutput}: a rerun first invalidates the older output).
 *
 * <p>The checkpoint's codebook must be the one that produced the table (same {@code
 * codebook_sha256}); {@code force} decodes anyway.
 */
public final class DecodeJob {
    private static final Logger LOG = LoggerFactory.getLogger(DecodeJob.class);

    /** Model calls decode this many rows at a time (padded, so every call has the same shape). */
    public static final int BATCH = 16;

    /**
     * Options.
     *
     * @param checkpoint RQ-VAE checkpoint URI
     * @param tokens token table URI
     * @param output output folder URI
     * @param limit rows to decode (≥ 1)
     * @param split only this split, or null
     * @param variant only this variant id, or null
     * @param force decode even when the codebook differs from the table's
     * @param threads libtorch intra-op threads (0 = default)
     * @param depths decode with the first k code levels, for each k listed (coarse-to-fine
     *     partial reconstructions, {@link RqVae#decodePartialCodes}); empty = all D levels only
     * @param precision compute precision of the decoder
     */
    public record Options(String checkpoint, String tokens, String output, int limit, String split, Integer variant,
            boolean force, int threads, List<Integer> depths, Precision precision) {
        public Options {
            Objects.requireNonNull(precision, "precision");
            Objects.requireNonNull(checkpoint, "checkpoint");
            Objects.requireNonNull(tokens, "tokens");
            Objects.requireNonNull(output, "output");
            if (limit <= 0) {
                throw new IllegalArgumentException("limit must be > 0, got " + limit);
            }
            depths = List.copyOf(depths == null ? List.of() : depths);
        }

        /** Options of a float32 run. */
        public Options(String checkpoint, String tokens, String output, int limit, String split, Integer variant,
                boolean force, int threads, List<Integer> depths) {
            this(checkpoint, tokens, output, limit, split, variant, force, threads, depths, Precision.FP32);
        }

        /** Options that decode with all code levels, in float32. */
        public Options(String checkpoint, String tokens, String output, int limit, String split, Integer variant,
                boolean force, int threads) {
            this(checkpoint, tokens, output, limit, split, variant, force, threads, List.of());
        }
    }

    /**
     * Outcome.
     *
     * @param rows the decoded rows, in order
     * @param images their images, NCHW floats in [−1, 1] (not clamped), decoded with the last
     *     entry of {@link Options#depths} (all levels by default)
     * @param resolution R
     * @param files PNG paths relative to the output folder, in row order
     */
    public record Result(List<TokenRow> rows, float[] images, int resolution, List<String> files) {}

    private DecodeJob() {}

    /** The commit marker of a decode output: JSON naming the inputs and every file, written last. */
    public static final String MARKER = "_SUCCESS";

    /** What the output is: reruns reuse the file names, so an older output is invalidated first. */
    static final StagedOutput.Spec OUTPUT = new StagedOutput.Spec(MARKER, "--output", "an rq decode output", true,
            "grid.png");

    /** Runs the decode: plan (read the rows, load the model), write the PNGs, commit. */
    public static Result run(SparkSession spark, Options o) throws IOException {
        return JobGroup.run(spark, "rq-decode", "rq decode " + o.tokens() + " -> " + o.output(), false,
                () -> doRun(spark, o));
    }

    private static Result doRun(SparkSession spark, Options o) throws IOException {
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        TokenTable table = TokenTable.read(spark, o.tokens());
        TokenManifest m = table.manifest();
        Dataset<TokenRow> ds = table.typed();
        if (o.split() != null) {
            table.split(o.split()); // validates the name
            ds = ds.filter(col("split").equalTo(o.split()));
        }
        if (o.variant() != null) {
            ds = ds.filter(col("variant").equalTo(o.variant()));
        }
        List<TokenRow> rows = ds.orderBy("split", "sourceShard", "sourceRow", "variant").limit(o.limit())
                .collectAsList();
        if (rows.isEmpty()) {
            throw new IllegalArgumentException("no rows to decode in " + table.uri());
        }
        Engines.pytorch(o.threads());
        Device device = TaskDevice.forDriver(spark.sparkContext()); // decoding runs on the driver
        try (NDManager manager = Engines.newManager(device)) {
            VaeCheckpoint.Loaded l = VaeCheckpoint.load(new HadoopDir(o.checkpoint(), conf), manager);
            checkCompatible(l, m, o);
            l.vae().setPrecision(o.precision());
            int res = l.config().model().ddconfig().resolution();
            int[] shape = table.codeShape();
            List<Integer> depths = o.depths().isEmpty() ? List.of(shape[2]) : o.depths();
            for (int k : depths) {
                if (k < 1 || k > shape[2]) {
                    throw new IllegalArgumentException("--depths: " + k + " is not a number of code levels in [1, "
                            + shape[2] + "] (the table's depth D)");
                }
            }
            checkDriverFits(rows.size(), depths.size(), res, Runtime.getRuntime().maxMemory());
            List<int[]> codes = rows.stream().map(TokenRow::getCodes).toList();
            int n = rows.size();
            try (StagedOutput staged = StagedOutput.begin(o.output(), conf, OUTPUT)) {
                HadoopDir out = new HadoopDir(staged.root(), conf);
                float[] images = null;
                List<List<String>> files = new ArrayList<>();
                float[][] perDepth = new float[depths.size()][];
                for (int j = 0; j < depths.size(); j++) {
                    int k = depths.get(j);
                    images = decode(l.vae(), codes, shape, BATCH, k);
                    perDepth[j] = images;
                    files.add(writePngs(out, rows, images, res, o.depths().isEmpty() ? "" : "_d" + k));
                }
                try (OutputStream s = out.create("grid.png")) {
                    if (depths.size() == 1) {
                        ImageGrid.writePng(ImageGrid.grid(images, n, 3, res, res), s);
                    } else { // one row per image, one column per depth
                        int per = 3 * res * res;
                        float[] all = new float[n * depths.size() * per];
                        for (int i = 0; i < n; i++) {
                            for (int j = 0; j < depths.size(); j++) {
                                System.arraycopy(perDepth[j], i * per, all, (i * depths.size() + j) * per, per);
                            }
                        }
                        ImageGrid.writePng(ImageGrid.grid(all, n * depths.size(), 3, res, res, depths.size(), 2,
                                0xFFFFFF), s);
                    }
                }
                writeIndex(out, o, m, rows, files, depths);
                List<String> written = new ArrayList<>();
                files.forEach(written::addAll);
                written.add("grid.png");
                written.add("index.html");
                ObjectNode marker = JSON.createObjectNode();
                marker.put("kind", "rq decode");
                marker.put("token_table", table.uri());
                marker.put("checkpoint", o.checkpoint());
                marker.put("rows", n);
                depths.forEach(marker.putArray("depths")::add);
                var fileArray = marker.putArray("files");
                files.forEach(f -> f.forEach(fileArray::add));
                staged.commit(written, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(marker));
                LOG.info("decoded {} rows of {} into {}", n, table.uri(), staged.uri());
                l.vae().close();
                return new Result(rows, images, res, files.get(files.size() - 1));
            }
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The most elements of one Java array (the JDK's own bound, a little under 2^31). */
    static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    /**
     * Fails, before any output is touched, when the decoded images cannot be held on the driver.
     * Decode keeps every image of every level in the driver's heap ({@code rows × levels × 3·res²}
     * floats, twice over with several levels, plus the grid's {@code rows × levels × (res+2)²} int
     * pixels), and one Java array holds fewer than 2^31 elements: at 256 px one level fits at most
     * 10,922 rows, whatever the heap. Whole splits are reconstructed on the executors by {@code rq
     * eval}.
     *
     * @param rows rows to decode
     * @param levels decoded depths per row ({@code --depths}; 1 without it)
     * @param res image side
     * @param maxHeap the driver's heap bound ({@link Runtime#maxMemory})
     * @throws IllegalArgumentException naming {@code --limit} and the rows that fit
     */
    static void checkDriverFits(long rows, int levels, int res, long maxHeap) {
        long per = 3L * res * res;
        long gridPixels = (long) levels * (res + 2) * (res + 2); // per row
        long largest = Math.max((long) levels * per, gridPixels); // elements per row of the largest array
        long bytesPerRow = 4 * (per * (levels == 1 ? 1 : 2L * levels) + gridPixels);
        long fit = Math.min(MAX_ARRAY / largest, maxHeap / 2 / bytesPerRow);
        if (rows > fit) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "--limit %d: rq decode holds every decoded"
                    + " image on the driver (%d rows x %d level(s) x 3x%dx%d floats, %d MiB, in arrays of at most"
                    + " 2^31 elements, within half the driver heap of %d MiB); at most %d rows fit: decode fewer rows"
                    + " (--limit, --split, --variant; rq quickstart: --decode-limit) or reconstruct a whole split"
                    + " with rq eval", rows, rows, levels, res, res, rows * bytesPerRow >> 20, maxHeap >> 20, fit));
        }
    }

    private static void checkCompatible(VaeCheckpoint.Loaded l, TokenManifest m, Options o) throws IOException {
        QuantizerConfig q = l.config().model().hparams();
        List<Integer> shape = List.of(q.codeShape().get(0), q.codeShape().get(1), q.depth());
        if (!shape.equals(m.codeShape())) {
            throw new IllegalArgumentException("checkpoint code shape " + shape + " differs from the table's "
                    + m.codeShape());
        }
        String sha = ModelHashes.codebookSha256(l.vae().stateTensors(), q);
        if (!sha.equals(m.tokenizer().codebookSha256())) {
            String msg = "codebook of " + o.checkpoint() + " (SHA-256 " + sha + ") is not the one that produced "
                    + o.tokens() + " (" + m.tokenizer().codebookSha256() + ", checkpoint "
                    + m.tokenizer().checkpointUri() + ")";
            if (!o.force()) {
                throw new IllegalArgumentException(msg + "; use --force to decode anyway");
            }
            LOG.warn("{}; decoding anyway (--force)", msg);
        }
    }

    /**
     * Decodes flattened (h, w, d) code stacks.
     *
     * @param vae the model
     * @param codes one array of H·W·D codes per image
     * @param codeShape [H, W, D]
     * @param batch images per model call (the last call is padded)
     * @return NCHW floats of every image
     */
    public static float[] decode(RqVae vae, List<int[]> codes, int[] codeShape, int batch) {
        return decode(vae, codes, codeShape, batch, codeShape[2]);
    }

    /**
     * Decodes flattened (h, w, d) code stacks with their first {@code depths} code levels.
     *
     * @param depths code levels used, 1..D (D = all: {@link RqVae#decodeCodes})
     */
    public static float[] decode(RqVae vae, List<int[]> codes, int[] codeShape, int batch, int depths) {
        int len = codeShape[0] * codeShape[1] * codeShape[2];
        float[] out = null;
        int per = 0;
        for (int b = 0; b < codes.size(); b += batch) {
            int count = Math.min(batch, codes.size() - b);
            long[] c = new long[batch * len];
            for (int i = 0; i < batch; i++) {
                int[] one = codes.get(b + Math.min(i, count - 1));
                if (one.length != len) {
                    throw new IllegalArgumentException("row " + (b + i) + " has " + one.length + " codes, expected "
                            + len);
                }
                for (int j = 0; j < len; j++) {
                    c[i * len + j] = one[j];
                }
            }
            try (NoGrad inference = NoGrad.enter(); NDManager sub = vae.params().manager().newSubManager();
                    NDScope scope = new NDScope()) {
                NDArray stack = sub.create(c, new Shape(batch, codeShape[0], codeShape[1], codeShape[2]));
                float[] x = (depths == codeShape[2] ? vae.decodeCodes(stack)
                        : vae.decodePartialCodes(stack, depths - 1, true)).toFloatArray();
                if (out == null) {
                    per = x.length / batch;
                    out = new float[codes.size() * per];
                }
                System.arraycopy(x, 0, out, b * per, count * per);
            }
        }
        return out == null ? new float[0] : out;
    }

    private static List<String> writePngs(HadoopDir out, List<TokenRow> rows, float[] images, int res, String suffix)
            throws IOException {
        List<String> files = new ArrayList<>();
        Map<String, HadoopDir> dirs = new LinkedHashMap<>();
        for (int i = 0; i < rows.size(); i++) {
            TokenRow r = rows.get(i);
            HadoopDir d = dirs.get(r.getSplit());
            if (d == null) {
                d = out.child(safe(r.getSplit()));
                dirs.put(r.getSplit(), d);
            }
            String name = String.format(Locale.ROOT, "%05d_%s_v%d%s.png", i, safe(r.getId()), r.getVariant(), suffix);
            try (OutputStream s = d.create(name)) {
                ImageGrid.writePng(ImageGrid.image(images, i, 3, res, res), s);
            }
            files.add(safe(r.getSplit()) + "/" + name);
        }
        return files;
    }

    private static void writeIndex(HadoopDir out, Options o, TokenManifest m, List<TokenRow> rows,
            List<List<String>> files, List<Integer> depths) throws IOException {
        Map<String, Object> kv = new LinkedHashMap<>();
        kv.put("token table", o.tokens());
        kv.put("checkpoint", o.checkpoint());
        kv.put("table tokenizer", m.tokenizer().checkpointUri());
        kv.put("codebook SHA-256", m.tokenizer().codebookSha256());
        kv.put("code shape", m.codeShape() + " " + m.codeDtype() + ", K = " + m.codebookSize());
        kv.put("rows", rows.size());
        kv.put("code levels decoded", depths.size() == 1 ? depths.get(0) + " of " + m.codeShape().get(2)
                : depths + " of " + m.codeShape().get(2) + " (grid: one row per image, one column per level count)");
        List<List<Object>> table = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            TokenRow r = rows.get(i);
            String label = r.getLabel() != null && r.getLabel() >= 0 && m.labelNames() != null
                    && r.getLabel() < m.labelNames().size() ? m.labelNames().get(r.getLabel().intValue())
                    : String.valueOf(r.getLabel());
            int row = i;
            table.add(List.of(i, r.getSplit(), r.getId(), Variant.ofId(r.getVariant()).label, label,
                    String.join(" ", files.stream().map(f -> f.get(row)).toList())));
        }
        HtmlReport report = HtmlReport.titled("rq decode").keyValues(kv).image("grid.png", "decoded rows, in order")
                .table(List.of("#", "split", "id", "variant", "label", "file"), table);
        try (OutputStream s = out.create("index.html")) {
            report.write(s);
        }
    }

    /** File-name-safe form of an id. */
    static String safe(String s) {
        String t = s.replaceAll("[^A-Za-z0-9._-]", "_");
        if (t.length() > 80) {
            t = t.substring(0, 80);
        }
        return t.isEmpty() || t.startsWith(".") ? "_" + t : t;
    }
}
