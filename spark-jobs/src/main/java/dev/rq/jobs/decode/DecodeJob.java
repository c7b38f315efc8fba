package dev.rq.jobs.decode;

import static org.apache.spark.sql.functions.col;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.io.HadoopDir;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.io.StagedOutput;
import dev.rq.jobs.JobGroup;
import dev.rq.executor.RqVaeModel;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.checkpoint.ModelHashes;
import dev.rq.model.config.QuantizerConfig;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.engine.NoGrad;
import dev.rq.model.engine.Precision;
import dev.rq.model.metrics.Psnr;
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
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.apache.spark.storage.StorageLevel;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

/**
 * {@code rq decode}: images from a token table, decoded on the executors. The rows (optionally one
 * split and one variant) are numbered in the order split, source shard, source row, variant (a
 * distributed sort, a top-k with {@code limit}, then {@code zipWithIndex}); contiguous index ranges
 * (multiples of {@link #BATCH}) go to tasks, and each task decodes its rows in fixed batches with
 * the executor's cached RQ-VAE ({@link DecodeTask}, {@link RqVaeModel}: on the task's GPU if
 * Spark assigned one, else the CPU) and writes one PNG per row straight to the output ({@code
 * <output>/<split>/<nnnnn>_<id>_v<variant>.png}). Only the first {@link Options#keep} rows' images
 * come back to the driver, which writes {@code grid.png} (the first {@link #GRID}), {@code
 * index.html} and, last, {@link #MARKER} ({@link StagedOutput}: a rerun first invalidates the older
 * output).
 *
 * <pre>
 *   table → filter → orderBy (+ limit) → zipWithIndex → ranges of index → task: 16-row batches
 *         → PNGs on the output FS → driver: grid (first 64), index.html, _SUCCESS (every file name)
 * </pre>
 *
 * <p>The checkpoint's codebook must be the one that produced the table (same {@code
 * codebook_sha256}); {@code force} decodes anyway.
 */
public final class DecodeJob {
    private static final Logger LOG = LoggerFactory.getLogger(DecodeJob.class);

    /** Model calls decode this many rows at a time (padded, so every call has the same shape). */
    public static final int BATCH = 16;

    /** grid.png shows at most this many rows (the first), and by default their images come back to the driver. */
    public static final int GRID = 64;

    /** A task decodes at most about this many rows (more tasks than slots for large inputs: retries stay cheap). */
    static final long ROWS_PER_TASK = 2048;

    /**
     * Options.
     *
     * @param checkpoint RQ-VAE checkpoint URI
     * @param tokens token table URI
     * @param output output folder URI
     * @param limit rows to decode (the first ones in order), or 0 for every row
     * @param split only this split, or null
     * @param variant only this variant id, or null
     * @param force decode even when the codebook differs from the table's
     * @param threads libtorch intra-op threads (0 = default)
     * @param depths decode with the first k code levels, for each k listed (coarse-to-fine
     *     partial reconstructions, {@link RqVae#decodePartialCodes}); empty = all D levels only
     * @param precision compute precision of the decoder
     * @param keep the first rows whose decoded images come back to the driver ({@link Result#images};
     *     {@link #GRID} by default: the grid's); every other image only goes to its PNG
     */
    public record Options(String checkpoint, String tokens, String output, int limit, String split, Integer variant,
            boolean force, int threads, List<Integer> depths, Precision precision, int keep) {
        public Options {
            Objects.requireNonNull(precision, "precision");
            Objects.requireNonNull(checkpoint, "checkpoint");
            Objects.requireNonNull(tokens, "tokens");
            Objects.requireNonNull(output, "output");
            if (limit < 0) {
                throw new IllegalArgumentException("--limit must be >= 0 (0 = every row), got " + limit);
            }
            if (keep < 1) {
                throw new IllegalArgumentException("keep must be > 0, got " + keep);
            }
            depths = List.copyOf(depths == null ? List.of() : depths);
        }

        /** Options that bring the grid's {@link #GRID} images back to the driver. */
        public Options(String checkpoint, String tokens, String output, int limit, String split, Integer variant,
                boolean force, int threads, List<Integer> depths, Precision precision) {
            this(checkpoint, tokens, output, limit, split, variant, force, threads, depths, precision, GRID);
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
     * @param rows the first decoded rows, in order: {@code min(count, Options#keep)} of them
     * @param images their images, NCHW floats in [−1, 1] (not clamped), decoded with the last
     *     entry of {@link Options#depths} (all levels by default)
     * @param resolution R
     * @param files their PNG paths relative to the output folder, in row order
     * @param count rows decoded in all
     */
    public record Result(List<TokenRow> rows, float[] images, int resolution, List<String> files, long count,
            List<Score> scores) {}

    /**
     * The originals that decoded rows are measured against, read where the rows are decoded (in the
     * tasks): {@link SourceImages}, the evaluation transform of each row's source image.
     */
    public interface Reference extends Serializable {
        /**
         * @param rows consecutive rows of one task, in index order
         * @param res image side R
         * @return their originals, NCHW floats in [−1, 1] (3·R² per row, in the order of {@code rows})
         */
        float[] originals(List<TokenRow> rows, int res) throws IOException;
    }

    /**
     * One decoded row measured against its original: what comes back to the driver for every row of
     * a run with a {@link Reference} (~100 B a row, whatever the resolution).
     *
     * @param id the row's id
     * @param label its label (null when unlabelled)
     * @param psnr PSNR ({@link Psnr#of}) of its reconstruction (the last entry of {@link Options#depths})
     *     against {@link Reference#originals}
     */
    public record Score(String id, Long label, double psnr) implements Serializable {}

    private DecodeJob() {}

    /** The commit marker of a decode output: JSON naming the inputs and every file, written last. */
    public static final String MARKER = "_SUCCESS";

    /** What the output is: reruns reuse the file names, so an older output is invalidated first. */
    static final StagedOutput.Spec OUTPUT = new StagedOutput.Spec(MARKER, "--output", "an rq decode output", true,
            "grid.png");

    /** Runs the decode: plan (read the rows, load the model), write the PNGs, commit. */
    public static Result run(SparkSession spark, Options o) throws IOException {
        return run(spark, o, null);
    }

    /**
     * Runs the decode and, with a {@code reference}, measures every row's reconstruction against its
     * original in the task that decodes it ({@link Result#scores}, in row order; the images of only
     * the first {@link Options#keep} rows come back).
     */
    public static Result run(SparkSession spark, Options o, Reference reference) throws IOException {
        return JobGroup.run(spark, "rq-decode", "rq decode " + o.tokens() + " -> " + o.output(), false,
                () -> doRun(spark, o, reference));
    }

    private static Result doRun(SparkSession spark, Options o, Reference reference) throws IOException {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        Configuration conf = jsc.hadoopConfiguration();
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
        // the checkpoint's metadata only: the model is loaded (and its checksums verified) by the executors
        HadoopDir ckptDir = new HadoopDir(o.checkpoint(), conf);
        Checkpoints.Loaded ckpt = Checkpoints.read(ckptDir);
        if (!VaeCheckpoint.KIND.equals(ckpt.manifest().kind())) {
            throw new CheckpointException(ckptDir.uri() + " holds a '" + ckpt.manifest().kind()
                    + "' model, not an RQ-VAE");
        }
        RqVaeRunConfig config = ckpt.config(RqVaeRunConfig.class);
        checkCompatible(ckpt, config, m, o);
        int res = config.model().ddconfig().resolution();
        int[] shape = table.codeShape();
        List<Integer> depths = o.depths().isEmpty() ? List.of(shape[2]) : o.depths();
        for (int k : depths) {
            if (k < 1 || k > shape[2]) {
                throw new IllegalArgumentException("--depths: " + k + " is not a number of code levels in [1, "
                        + shape[2] + "] (the table's depth D)");
            }
        }
        long keep = o.limit() > 0 ? Math.min(o.keep(), o.limit()) : o.keep();
        checkDriverFits(keep, depths.size(), res, Runtime.getRuntime().maxMemory());
        int threads = o.threads() > 0 ? o.threads() : Integer.parseInt(spark.conf().get("spark.task.cpus", "1"));

        // global row numbers from the ordered rows: a distributed sort (with --limit: a top-k), then zipWithIndex
        Dataset<TokenRow> sorted = ds.orderBy("split", "sourceShard", "sourceRow", "variant");
        if (o.limit() > 0) {
            sorted = sorted.limit(o.limit());
        }
        // persisted before zipWithIndex, whose partition-size job then fills the cache: the ordered rows are read
        // from the sort once, not again for the count and the decode
        JavaRDD<TokenRow> ordered = sorted.toJavaRDD().persist(StorageLevel.MEMORY_AND_DISK_SER());
        JavaPairRDD<Long, TokenRow> indexed = ordered.zipWithIndex().mapToPair(Tuple2::swap);
        try {
            long n = indexed.count();
            if (n == 0) {
                throw new IllegalArgumentException("no rows to decode in " + table.uri());
            }
            long batches = (n + BATCH - 1) / BATCH;
            long tasks = Math.max(jsc.defaultParallelism(), (n + ROWS_PER_TASK - 1) / ROWS_PER_TASK);
            long perTask = BATCH * ((batches + tasks - 1) / tasks);
            int parts = (int) ((n + perTask - 1) / perTask);
            try (StagedOutput staged = StagedOutput.begin(o.output(), conf, OUTPUT)) {
                String modelSha = ckpt.manifest().files().get(Checkpoints.MODEL).sha256();
                RqVaeModel model = new RqVaeModel(ckptDir.uri(), modelSha, threads, o.precision(),
                        new SerializableHadoopConf(conf));
                DecodeTask task = new DecodeTask(model, staged.uri(), new SerializableHadoopConf(conf), shape, depths,
                        !o.depths().isEmpty(), keep, threads, reference);
                LOG.info("rq decode: {}, batch {}, {} threads/task", DecodeTask.describe(n, parts, perTask), BATCH,
                        threads);
                List<DecodeTask.Part> done = new ArrayList<>(indexed
                        .repartitionAndSortWithinPartitions(new DecodeTask.IndexRanges(parts, perTask))
                        .mapPartitions(task).collect());
                done.sort(Comparator.comparingLong(DecodeTask.Part::first));
                List<List<String>> files = new ArrayList<>();
                float[][] perDepth = new float[depths.size()][];
                List<TokenRow> rows = new ArrayList<>();
                List<Score> scores = new ArrayList<>();
                for (DecodeTask.Part p : done) {
                    rows.addAll(p.rows());
                    scores.addAll(p.scores());
                }
                int per = 3 * res * res;
                for (int j = 0; j < depths.size(); j++) {
                    List<String> f = new ArrayList<>();
                    float[] images = new float[Math.toIntExact((long) rows.size() * per)];
                    int at = 0;
                    for (DecodeTask.Part p : done) {
                        f.addAll(p.files().get(j));
                        float[] x = p.images().get(j);
                        if (x != null) {
                            System.arraycopy(x, 0, images, at, x.length);
                            at += x.length;
                        }
                    }
                    files.add(f);
                    perDepth[j] = images;
                }
                HadoopDir out = new HadoopDir(staged.root(), conf);
                writeGrid(out, perDepth, Math.min(rows.size(), GRID), res);
                writeIndex(out, o, m, n, rows, files, depths);
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
                List<String> last = files.get(files.size() - 1);
                return new Result(rows, perDepth[depths.size() - 1], res, last.subList(0, rows.size()), n,
                        List.copyOf(scores));
            }
        } finally {
            ordered.unpersist(false);
        }
    }

    /** grid.png: the first {@code g} images; with several depths one row per image, one column per depth. */
    private static void writeGrid(HadoopDir out, float[][] perDepth, int g, int res) throws IOException {
        try (OutputStream s = out.create("grid.png")) {
            if (perDepth.length == 1) {
                ImageGrid.writePng(ImageGrid.grid(perDepth[0], g, 3, res, res), s);
            } else {
                int per = 3 * res * res;
                int levels = perDepth.length;
                float[] all = new float[g * levels * per];
                for (int i = 0; i < g; i++) {
                    for (int j = 0; j < levels; j++) {
                        System.arraycopy(perDepth[j], i * per, all, (i * levels + j) * per, per);
                    }
                }
                ImageGrid.writePng(ImageGrid.grid(all, g * levels, 3, res, res, levels, 2, 0xFFFFFF), s);
            }
        }
    }

    /** PNG name of the row with global index {@code i}: {@code <nnnnn>_<id>_v<variant><suffix>.png}. */
    static String fileName(long i, TokenRow r, String suffix) {
        return String.format(Locale.ROOT, "%05d_%s_v%d%s.png", i, safe(r.getId()), r.getVariant(), suffix);
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The most elements of one Java array (the JDK's own bound, a little under 2^31). */
    static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    /**
     * Fails, before any output is touched, when the images that come back to the driver ({@link
     * Options#keep}: the grid's {@link #GRID} by default; the quickstart's decode stage asks for the
     * 48 of its comparison grid and measures the PSNR in the tasks) cannot be held there: {@code rows × levels × 3·res²} floats, twice
     * over with several levels, plus up to as many grid pixels, and one Java array holds fewer than
     * 2^31 elements: at 256 px one level fits at most 10,922 rows, whatever the heap. The PNGs of
     * all other rows never reach the driver.
     *
     * @param rows rows whose images come back
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
            throw new IllegalArgumentException(String.format(Locale.ROOT, "--limit %d: rq decode returns these rows'"
                    + " decoded images to the driver (%d rows x %d level(s) x 3x%dx%d floats, %d MiB, in arrays of at most"
                    + " 2^31 elements, within half the driver heap of %d MiB); at most %d rows fit: decode fewer rows"
                    + " (--limit, --split, --variant) or reconstruct a whole split"
                    + " with rq eval", rows, rows, levels, res, res, rows * bytesPerRow >> 20, maxHeap >> 20, fit));
        }
    }

    private static void checkCompatible(Checkpoints.Loaded ckpt, RqVaeRunConfig config, TokenManifest m,
            Options o) throws IOException {
        QuantizerConfig q = config.model().hparams();
        List<Integer> shape = List.of(q.codeShape().get(0), q.codeShape().get(1), q.depth());
        if (!shape.equals(m.codeShape())) {
            throw new IllegalArgumentException("checkpoint code shape " + shape + " differs from the table's "
                    + m.codeShape());
        }
        String sha = ModelHashes.codebookSha256(ckpt, q);
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

    /** index.html: inputs, the row count, the grid, and a table of the rows that came back (the first ones). */
    private static void writeIndex(HadoopDir out, Options o, TokenManifest m, long n, List<TokenRow> rows,
            List<List<String>> files, List<Integer> depths) throws IOException {
        Map<String, Object> kv = new LinkedHashMap<>();
        kv.put("token table", o.tokens());
        kv.put("checkpoint", o.checkpoint());
        kv.put("table tokenizer", m.tokenizer().checkpointUri());
        kv.put("codebook SHA-256", m.tokenizer().codebookSha256());
        kv.put("code shape", m.codeShape() + " " + m.codeDtype() + ", K = " + m.codebookSize());
        kv.put("rows", n);
        kv.put("grid and table", Math.min(rows.size(), GRID) == n && rows.size() == n ? "every row"
                : "grid: the first " + Math.min(rows.size(), GRID) + " rows; table: the first " + rows.size()
                        + " (every file: _SUCCESS)");
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
