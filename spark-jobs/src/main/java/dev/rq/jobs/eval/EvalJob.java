package dev.rq.jobs.eval;

import dev.rq.io.PretrainedWeights;
import static org.apache.spark.sql.functions.col;

import ai.djl.ndarray.NDManager;
import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.dataset.DatasetLayout;
import dev.rq.data.dataset.RowPlan;
import dev.rq.data.dataset.RowRange;
import dev.rq.io.HadoopDir;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.io.StagedOutput;
import dev.rq.jobs.JobGroup;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.config.EvalConfig;
import dev.rq.model.config.QuantizerConfig;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.loss.Lpips;
import dev.rq.model.metrics.FrechetDistance;
import dev.rq.model.metrics.GaussianStats;
import dev.rq.model.metrics.InceptionV3;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.report.HtmlReport;
import dev.rq.tables.CodeUsage;
import dev.rq.tables.TokenManifest;
import dev.rq.tables.TokenTableWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code rq eval}: reconstruction quality of an RQ-VAE checkpoint on a dataset split, as a Spark
 * job.
 *
 * <p>Driver: verify the checkpoint; resolve the {@code eval} settings (the checkpoint config's
 * section, then {@code --set eval.*}); read and check the pretrained weights it names (before any
 * cluster work); cut the split's rows, in dataset order, into tasks of whole batches ({@link
 * RowPlan}); run them ({@link ImageEvalTask}: eval-mode reconstruction, PSNR, SSIM, codes,
 * Inception features of originals and reconstructions) writing one Parquet row per image into a
 * the output ({@link StagedOutput}: files written in place, no directory renamed, so the same
 * steps are safe on object stores); read the rows back and check that every image is there once;
 * compute the statistics in index order ({@link FeatureStats}): rFID, PSNR/SSIM summaries,
 * codebook usage per depth; write {@code stats/*.npz}, {@code report.html} and, last, {@code
 * summary.json}, which lists every file (the commit marker). A failed run deletes what it wrote.
 *
 * <p>rFID follows the official {@code compute_rfid}: images of the split through the evaluation
 * transform in [−1, 1]; reconstruction in eval mode, not clamped; both mapped to [0, 1] by {@code
 * clamp(x·0.5 + 0.5, 0, 1)} in float (no 8-bit rounding); Inception pool features (bilinear resize
 * to 299, {@code 2x − 1}); Fréchet distance between the two feature distributions.
 */
public final class EvalJob {
    private static final Logger LOG = LoggerFactory.getLogger(EvalJob.class);

    /** Per-image rows of the evaluated images, under the output. */
    public static final String IMAGES_DIR = "images";
    /** Feature statistics (.npz), under the output. */
    public static final String STATS_DIR = "stats";
    /** The HTML report. */
    public static final String REPORT = "report.html";

    /** How rFID was computed, for the summary and the report. */
    static final String RFID_PROTOCOL = "rFID follows the official compute_rfid: split images through the"
            + " evaluation transform (shorter side to the model resolution, center crop) in [-1, 1]; eval-mode"
            + " reconstruction, not clamped; both mapped to [0, 1] by clamp(x*0.5 + 0.5, 0, 1) without 8-bit rounding;"
            + " FID Inception V3 pool features (bilinear resize to 299x299, align_corners=False, then 2x - 1);"
            + " mean and covariance (N - 1) in float64; Frechet distance with the eigenvalue form of tr sqrt(S1 S2).";
    static final String METRICS_PROTOCOL = "PSNR: 10 log10(1/MSE) over all pixels and channels of the [0, 1]"
            + " images (MSE 0 reports 100 dB). SSIM: Gaussian window 11x11, sigma 1.5, K1 = 0.01, K2 = 0.03, data"
            + " range 1, valid positions only, mean over positions then RGB channels (pytorch-msssim / scikit-image"
            + " gaussian_weights=True). Means are over images, summed in dataset order.";

    /**
     * Options.
     *
     * @param checkpoint RQ-VAE checkpoint URI
     * @param data dataset root (folder of splits) or one split folder
     * @param split split to evaluate (ignored when {@code data} is a split folder)
     * @param output output folder URI
     * @param overrides {@code eval.<key>=value} settings over the checkpoint config's {@code eval} section
     * @param limit evaluate only the first {@code limit} images of the split (0 = all)
     * @param threads libtorch intra-op threads per task (0 = {@code spark.task.cpus})
     * @param rowsPerTask images per Spark task (0 = automatic)
     */
    public record Options(String checkpoint, String data, String split, String output, List<String> overrides,
            long limit, int threads, int rowsPerTask) {
        public Options {
            Objects.requireNonNull(checkpoint, "checkpoint");
            Objects.requireNonNull(data, "data");
            Objects.requireNonNull(output, "output");
            split = split == null ? "val" : split;
            overrides = overrides == null ? List.of() : List.copyOf(overrides);
            if (limit < 0 || threads < 0 || rowsPerTask < 0) {
                throw new IllegalArgumentException("--limit, --threads and --rows-per-task must be >= 0");
            }
        }
    }

    /**
     * Outcome.
     *
     * @param outputUri the committed output
     * @param summary its summary
     */
    public record Result(String outputUri, EvalSummary summary) {
        /** @return a short human summary */
        public String text() {
            StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "eval -> %s%n  %d images", outputUri,
                    summary.images()));
            if (summary.psnr() != null) {
                sb.append(String.format(Locale.ROOT, ", PSNR %.2f dB, SSIM %.4f", summary.psnr().mean(),
                        summary.ssim().mean()));
            }
            if (summary.lpips() != null) {
                sb.append(String.format(Locale.ROOT, ", LPIPS %.4f", summary.lpips().mean()));
            }
            if (summary.rfid() != null) {
                sb.append(String.format(Locale.ROOT, ", rFID %.4f", summary.rfid()));
            }
            if (summary.fid() != null) {
                sb.append(String.format(Locale.ROOT, ", FID %.4f", summary.fid()));
            }
            if (summary.inceptionScore() != null) {
                sb.append(String.format(Locale.ROOT, ", IS %.3f ± %.3f", summary.inceptionScore().mean(),
                        summary.inceptionScore().std()));
            }
            sb.append(String.format(Locale.ROOT, "%n"));
            if (summary.notes() != null) {
                summary.notes().forEach(n -> sb.append("  note: ").append(n).append('\n'));
            }
            return sb.toString();
        }
    }

    private EvalJob() {}

    /**
     * What an output is: {@link EvalSummary#FILE} is the commit marker; a rerun writes the same file
     * names (so {@code stats/original.npz} stays where users look for it) after invalidating the old
     * output.
     */
    static final StagedOutput.Spec OUTPUT = new StagedOutput.Spec(EvalSummary.FILE, "--output", "an rq eval output",
            true);

    /** Runs the job on {@code spark} (any master). */
    public static Result run(SparkSession spark, Options o) throws IOException {
        return JobGroup.run(spark, "rq-eval", "rq eval " + o.checkpoint() + " on " + o.data(), false,
                () -> doRun(spark, JavaSparkContext.fromSparkContext(spark.sparkContext()), o));
    }

    private static Result doRun(SparkSession spark, JavaSparkContext jsc, Options o) throws IOException {
        Configuration conf = jsc.hadoopConfiguration();
        // checkpoint and settings, validated before any cluster work
        HadoopDir ckptDir = new HadoopDir(o.checkpoint(), conf);
        Checkpoints.Loaded ckpt = Checkpoints.read(ckptDir);
        if (!VaeCheckpoint.KIND.equals(ckpt.manifest().kind())) {
            throw new CheckpointException(ckptDir.uri() + " holds a '" + ckpt.manifest().kind()
                    + "' model, not an RQ-VAE");
        }
        RqVaeRunConfig config = ckpt.config(RqVaeRunConfig.class);
        EvalConfig ec = EvalConfigs.resolve(config.eval(), o.overrides());
        PretrainedWeights inception = inceptionWeights(ec, conf);
        List<String> notes = new ArrayList<>();
        if (inception == null) {
            notes.add("rFID: eval.inception_weights is not set (docs/eval.md: converting the FID Inception weights)");
        }
        PretrainedWeights lpips = lpipsWeights(ec, conf);
        if (lpips == null) {
            notes.add("LPIPS: eval.lpips_weights is not set (docs/eval.md: converting the LPIPS weights)");
        }
        if (inception != null && !ec.fidProtocol()) {
            notes.add(notFid(ec));
        }
        String modelSha = ckpt.manifest().files().get(Checkpoints.MODEL).sha256();
        int size = config.model().ddconfig().resolution();
        QuantizerConfig q = config.model().hparams();

        // input rows and tasks
        Split s = split(o, conf);
        List<RowRange> ranges = RowPlan.head(RowPlan.rowGroups(s.dataset(), s.name(), s.rel()), o.limit());
        long images = ranges.stream().mapToLong(RowRange::rows).sum();
        if (images < 2) {
            throw new IllegalArgumentException("split " + s.name() + " of " + o.data() + " has " + images
                    + " images; evaluation needs at least 2");
        }
        int batch = ec.batchSize();
        List<RowPlan.Task> tasks = RowPlan.cut(ranges,
                RowPlan.taskCount(images, jsc.defaultParallelism(), batch, o.rowsPerTask()), batch);
        int threads = o.threads() > 0 ? o.threads() : Integer.parseInt(spark.conf().get("spark.task.cpus", "1"));

        try (StagedOutput out = StagedOutput.begin(o.output(), conf, OUTPUT)) {
            SerializableHadoopConf sconf = new SerializableHadoopConf(conf);
            EvalModels models = new EvalModels(ckptDir.uri(), modelSha, inception == null ? null : inception.uri(),
                    inception == null ? null : inception.sha256(), ec.inceptionSize(),
                    lpips == null ? null : lpips.uri(), lpips == null ? null : lpips.sha256(), threads, sconf);
            ImageEvalTask task = new ImageEvalTask(models, sconf, size, batch, true, false);
            LOG.info("eval {} images of {} in {} tasks, batch {}, {} threads/task, Inception {}", images, s.uri(),
                    tasks.size(), batch, threads, inception == null ? "off" : "on");
            long t0 = System.nanoTime();
            Written written = new Written();
            List<TokenManifest.DataFile> files = written.table(out, IMAGES_DIR,
                    jsc.parallelize(tasks, tasks.size()).mapPartitions(task, false), conf);
            double seconds = (System.nanoTime() - t0) / 1e9;
            Dataset<Row> table = readBack(spark, out, IMAGES_DIR, files, images);

            // statistics, in index order
            Double rfid = null;
            if (inception != null) {
                GaussianStats orig = FeatureStats.gaussian(table, EvalTable.FEATURES, images);
                GaussianStats recon = FeatureStats.gaussian(table, EvalTable.RECON_FEATURES, images);
                rfid = FrechetDistance.of(orig, recon);
                written.stats(out, "original", orig);
                written.stats(out, "reconstruction", recon);
            }
            int[] ks = new int[q.depth()];
            for (int d = 0; d < ks.length; d++) {
                ks[d] = q.codebookSize(d);
            }
            CodeUsage usage = CodeUsage.of(table, EvalTable.CODES, ks);
            EvalSummary summary = new EvalSummary(EvalSummary.FORMAT, EvalSummary.VERSION, "reconstruction",
                    new EvalSummary.Inputs(ckptDir.uri(), modelSha, ckpt.manifest().step(), s.uri(), s.name(), size,
                            null, null, null),
                    images, FeatureStats.scalar(table, EvalTable.PSNR, images),
                    FeatureStats.scalar(table, EvalTable.SSIM, images), FeatureStats.scalar(table, EvalTable.LPIPS, images),
                    rfid, null, null, EvalSummary.depths(usage),
                    new EvalSummary.Networks(inception == null ? null : inception.uri(),
                            inception == null ? null : inception.sha256(), lpips == null ? null : lpips.uri(),
                            lpips == null ? null : lpips.sha256()),
                    inception == null ? List.of(METRICS_PROTOCOL) : List.of(METRICS_PROTOCOL, RFID_PROTOCOL),
                    notes.isEmpty() ? null : notes,
                    new EvalSummary.Job(spark.sparkContext().master(), tasks.size(), batch, threads, round(seconds),
                            round(images / seconds)),
                    written.tables, written.stats, createdBy(), Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
            commit(out, summary, "rq eval", written);
            LOG.info("eval committed {}: {} images in {} s", out.uri(), images, round(seconds));
            return new Result(out.uri(), summary);
        }
    }

    /** The LPIPS weights named by {@code eval.lpips_weights}, checked by loading them, or null. */
    static PretrainedWeights lpipsWeights(EvalConfig ec, Configuration conf) throws IOException {
        if (ec.lpipsWeights() == null) {
            return null;
        }
        PretrainedWeights w = PretrainedWeights.read(ec.lpipsWeights(), "eval.lpips_weights", conf);
        try (NDManager m = Engines.newManager(); Lpips l = Lpips.fromStateDict(w.tensors(), m)) {
            return w;
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("eval.lpips_weights: " + w.uri() + ": not an LPIPS state dict: "
                    + e.getMessage(), e);
        }
    }

    /** @return the note of a run whose FID network does not resize to 299×299 */
    static String notFid(EvalConfig ec) {
        return String.format(Locale.ROOT, "eval.inception_size=%d: images resized to %dx%d instead of %dx%d (the FID"
                + " protocol); rFID, FID and Inception Score here are NOT comparable with FID values (a smoke-test"
                + " setting)", ec.inceptionSize(), ec.inceptionSize(), ec.inceptionSize(), EvalConfig.FID_SIZE,
                EvalConfig.FID_SIZE);
    }

    /** The FID Inception weights named by {@code eval.inception_weights}, checked, or null. */
    static PretrainedWeights inceptionWeights(EvalConfig ec, Configuration conf) throws IOException {
        if (ec.inceptionWeights() == null) {
            return null;
        }
        PretrainedWeights w = PretrainedWeights.read(ec.inceptionWeights(), "eval.inception_weights", conf);
        try {
            InceptionV3.checkStateDict(w.tensors());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("eval.inception_weights: " + w.uri() + ": " + e.getMessage(), e);
        }
        return w;
    }

    /** A split to evaluate. */
    record Split(String name, String uri, String rel, CanonicalDataset dataset) {}

    static Split split(Options o, Configuration conf) throws IOException {
        return split(o.data(), o.split(), conf, "--data");
    }

    /**
     * @param data dataset root or split folder
     * @param split split name when {@code data} is a root
     * @param label option name for messages
     */
    static Split split(String data, String split, Configuration conf, String label) throws IOException {
        Path root = new Path(data);
        FileSystem fs = root.getFileSystem(conf);
        root = fs.makeQualified(root);
        if (fs.exists(new Path(root, DatasetLayout.INFO_FILE))) {
            CanonicalDataset ds = CanonicalDataset.open(root.toString(), conf);
            return new Split(ds.info().split(), root.toString(), root.getName(), ds);
        }
        if (!fs.exists(root)) {
            throw new IllegalArgumentException(label + ": dataset " + data + " does not exist");
        }
        Path p = new Path(root, split);
        if (!fs.exists(new Path(p, DatasetLayout.INFO_FILE))) {
            List<String> found = new ArrayList<>();
            for (FileStatus st : fs.listStatus(root)) {
                if (st.isDirectory() && fs.exists(new Path(st.getPath(), DatasetLayout.INFO_FILE))) {
                    found.add(st.getPath().getName());
                }
            }
            throw new IllegalArgumentException(label + ": dataset " + data + " has no complete split '" + split
                    + "' (found " + found + "; choose one with --split)");
        }
        return new Split(split, p.toString(), split, CanonicalDataset.open(p.toString(), conf));
    }

    /** Reads a written table back (exactly its listed files) and checks every index 0..expected−1 is there once. */
    static Dataset<Row> readBack(SparkSession spark, StagedOutput out, String table, List<TokenManifest.DataFile> files,
            long expected) {
        if (files.isEmpty()) {
            throw new IllegalStateException("the job wrote no Parquet files under " + out.path(table));
        }
        String[] paths = files.stream().map(f -> out.path(f.path()).toString()).toArray(String[]::new);
        Dataset<Row> t = spark.read().option("basePath", out.path(table).toString()).schema(EvalTable.SCHEMA)
                .parquet(paths);
        Row r = t.agg(functions.count(functions.lit(1)), functions.countDistinct(col(EvalTable.INDEX)),
                functions.min(col(EvalTable.INDEX)), functions.max(col(EvalTable.INDEX))).first();
        if (r.getLong(0) != expected || r.getLong(1) != expected || r.getLong(2) != 0 || r.getLong(3) != expected - 1) {
            throw new IllegalStateException("row check failed: expected " + expected + " images with indices 0.."
                    + (expected - 1) + ", wrote " + r.getLong(0) + " rows with " + r.getLong(1) + " distinct indices");
        }
        return t;
    }

    /** What a run wrote under its output: tables (files relative to the root) and statistics files. */
    static final class Written {
        final Map<String, List<TokenManifest.DataFile>> tables = new LinkedHashMap<>();
        final Map<String, String> stats = new LinkedHashMap<>();

        /** Writes {@code rows} ({@link EvalTable#SCHEMA}) as the table {@code name}; @return its files */
        List<TokenManifest.DataFile> table(StagedOutput out, String name, JavaRDD<Row> rows, Configuration conf) {
            List<TokenManifest.DataFile> files = new ArrayList<>();
            for (TokenManifest.DataFile f : TokenTableWriter.write(rows, out, name, EvalTable.SCHEMA, conf)) {
                files.add(new TokenManifest.DataFile(name + "/" + f.path(), f.split(), f.rows(), f.bytes()));
            }
            tables.put(name, files);
            return files;
        }

        /** Writes {@code stats/<name>.npz}. */
        void stats(StagedOutput out, String name, GaussianStats s) throws IOException {
            String rel = STATS_DIR + "/" + name + ".npz";
            try (OutputStream os = HadoopDir.createFile(out.fs(), out.path(rel))) {
                s.writeNpz(os);
            }
            stats.put(name, rel);
        }

        List<String> paths() {
            List<String> p = new ArrayList<>();
            tables.values().forEach(l -> l.forEach(f -> p.add(f.path())));
            p.addAll(stats.values());
            return p;
        }
    }

    /** Writes the report, then {@code summary.json} (the commit marker, listing every file) last. */
    static void commit(StagedOutput out, EvalSummary summary, String title, Written written) throws IOException {
        try (OutputStream s = HadoopDir.createFile(out.fs(), out.path(REPORT))) {
            EvalReport.section(HtmlReport.titled(title), summary).write(s);
        }
        List<String> files = new ArrayList<>(written.paths());
        files.add(REPORT);
        out.commit(files, summary.toJson());
    }

    static Map<String, String> createdBy() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("app", "rq eval");
        m.put("rq", Checkpoints.projectVersion());
        m.put("spark", org.apache.spark.package$.MODULE$.SPARK_VERSION());
        Engines.versions().forEach((k, v) -> m.put(k.toString(), v.toString()));
        return m;
    }

    static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }
}
