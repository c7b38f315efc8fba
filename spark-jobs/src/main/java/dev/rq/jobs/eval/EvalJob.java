package dev.rq.jobs.eval;

import static org.apache.spark.sql.functions.col;

import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.dataset.DatasetLayout;
import dev.rq.data.dataset.RowPlan;
import dev.rq.data.dataset.RowRange;
import dev.rq.io.AtomicOutput;
import dev.rq.io.HadoopDir;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.config.EvalConfig;
import dev.rq.model.config.QuantizerConfig;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.metrics.FrechetDistance;
import dev.rq.model.metrics.GaussianStats;
import dev.rq.model.metrics.InceptionV3;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.report.HtmlReport;
import dev.rq.tables.CodeUsage;
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
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
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
 * hidden temporary sibling of the output; read the rows back and check that every image is there
 * once; compute the statistics in index order ({@link FeatureStats}): rFID, PSNR/SSIM summaries,
 * codebook usage per depth; write {@code stats/*.npz}, {@code report.html} and, last, {@code
 * summary.json}; rename the folder into place (an older output is moved aside first and deleted
 * after). A failed run deletes its temporary folder and leaves an existing output untouched.
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
                summary.notes().forEach(n -> sb.append("  not computed: ").append(n).append('\n'));
            }
            return sb.toString();
        }
    }

    private EvalJob() {}

    /** Runs the job on {@code spark} (any master). */
    public static Result run(SparkSession spark, Options o) throws IOException {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        jsc.setJobGroup("rq-eval", "rq eval " + o.checkpoint() + " on " + o.data(), false);
        try {
            return doRun(spark, jsc, o);
        } finally {
            jsc.clearJobGroup();
        }
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
        if (ec.lpipsWeights() != null) {
            throw new IllegalArgumentException("eval.lpips_weights: LPIPS is not implemented in rq eval yet; unset it");
        }
        notes.add("LPIPS: not implemented in rq eval yet");
        String modelSha = ckpt.manifest().files().get(Checkpoints.MODEL).sha256();
        int size = config.model().ddconfig().resolution();
        QuantizerConfig q = config.model().hparams();

        // input rows and tasks
        Split s = split(o, conf);
        List<RowRange> ranges = RowPlan.head(RowPlan.rowGroups(s.dataset(), s.rel(), conf), o.limit());
        long images = ranges.stream().mapToLong(RowRange::rows).sum();
        if (images < 2) {
            throw new IllegalArgumentException("split " + s.name() + " of " + o.data() + " has " + images
                    + " images; evaluation needs at least 2");
        }
        int batch = ec.batchSize();
        List<RowPlan.Task> tasks = RowPlan.cut(ranges,
                RowPlan.taskCount(images, jsc.defaultParallelism(), batch, o.rowsPerTask()), batch);
        int threads = o.threads() > 0 ? o.threads() : Integer.parseInt(spark.conf().get("spark.task.cpus", "1"));

        Output out = Output.begin(o.output(), conf);
        try {
            SerializableHadoopConf sconf = new SerializableHadoopConf(conf);
            EvalModels models = new EvalModels(ckptDir.uri(), modelSha, inception == null ? null : inception.uri(),
                    inception == null ? null : inception.sha256(), threads, sconf);
            ImageEvalTask task = new ImageEvalTask(models, sconf, size, batch, true, false);
            LOG.info("eval {} images of {} in {} tasks, batch {}, {} threads/task, Inception {}", images, s.uri(),
                    tasks.size(), batch, threads, inception == null ? "off" : "on");
            long t0 = System.nanoTime();
            JavaRDD<Row> rows = jsc.parallelize(tasks, tasks.size()).mapPartitions(task, false);
            Path imagesDir = new Path(out.tmp(), IMAGES_DIR);
            spark.createDataFrame(rows, EvalTable.SCHEMA).write().mode(SaveMode.ErrorIfExists)
                    .option("compression", "zstd").parquet(imagesDir.toString());
            double seconds = (System.nanoTime() - t0) / 1e9;
            Dataset<Row> table = readBack(spark, imagesDir, images);

            // statistics, in index order
            Double rfid = null;
            if (inception != null) {
                GaussianStats orig = FeatureStats.gaussian(table, EvalTable.FEATURES);
                GaussianStats recon = FeatureStats.gaussian(table, EvalTable.RECON_FEATURES);
                rfid = FrechetDistance.of(orig, recon);
                HadoopDir stats = out.dir().child(STATS_DIR);
                try (OutputStream os = stats.create("original.npz")) {
                    orig.writeNpz(os);
                }
                try (OutputStream os = stats.create("reconstruction.npz")) {
                    recon.writeNpz(os);
                }
            }
            int[] ks = new int[q.depth()];
            for (int d = 0; d < ks.length; d++) {
                ks[d] = q.codebookSize(d);
            }
            CodeUsage usage = CodeUsage.of(table, EvalTable.CODES, ks);
            EvalSummary summary = new EvalSummary(EvalSummary.FORMAT, EvalSummary.VERSION, "reconstruction",
                    new EvalSummary.Inputs(ckptDir.uri(), modelSha, ckpt.manifest().step(), s.uri(), s.name(), size,
                            null, null, null),
                    images, FeatureStats.scalar(table, EvalTable.PSNR), FeatureStats.scalar(table, EvalTable.SSIM),
                    FeatureStats.scalar(table, EvalTable.LPIPS), rfid, null, null, EvalSummary.depths(usage),
                    new EvalSummary.Networks(inception == null ? null : inception.uri(),
                            inception == null ? null : inception.sha256(), null, null),
                    inception == null ? List.of(METRICS_PROTOCOL) : List.of(METRICS_PROTOCOL, RFID_PROTOCOL),
                    notes.isEmpty() ? null : notes,
                    new EvalSummary.Job(spark.sparkContext().master(), tasks.size(), batch, threads, round(seconds),
                            round(images / seconds)),
                    createdBy(), Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
            String committed = out.commit(summary, "rq eval");
            LOG.info("eval committed {}: {} images in {} s", committed, images, round(seconds));
            return new Result(committed, summary);
        } finally {
            out.abortUnlessCommitted();
        }
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

    /** Reads the written rows back (by file name: Spark ignores hidden folders) and checks them. */
    static Dataset<Row> readBack(SparkSession spark, Path dir, long expected) throws IOException {
        FileSystem fs = dir.getFileSystem(spark.sparkContext().hadoopConfiguration());
        FileStatus[] st = fs.globStatus(new Path(dir, "*.parquet"));
        if (st == null || st.length == 0) {
            throw new IllegalStateException("the job wrote no Parquet files under " + dir);
        }
        String[] files = new String[st.length];
        for (int i = 0; i < st.length; i++) {
            files[i] = st[i].getPath().toString();
        }
        Dataset<Row> t = spark.read().schema(EvalTable.SCHEMA).parquet(files);
        Row r = t.agg(functions.count(functions.lit(1)), functions.countDistinct(col(EvalTable.INDEX)),
                functions.min(col(EvalTable.INDEX)), functions.max(col(EvalTable.INDEX))).first();
        if (r.getLong(0) != expected || r.getLong(1) != expected || r.getLong(2) != 0 || r.getLong(3) != expected - 1) {
            throw new IllegalStateException("row check failed: expected " + expected + " images with indices 0.."
                    + (expected - 1) + ", wrote " + r.getLong(0) + " rows with " + r.getLong(1) + " distinct indices");
        }
        return t;
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

    /**
     * The output folder, written as a hidden temporary sibling and renamed into place when
     * complete ({@link AtomicOutput}); {@link EvalSummary#FILE} marks an earlier eval output that
     * may be replaced.
     */
    static final class Output {
        private final FileSystem fs;
        private final Path out;
        private final Path tmp;
        private final HadoopDir dir;
        private boolean committed;

        private Output(FileSystem fs, Path out, Path tmp, Configuration conf) throws IOException {
            this.fs = fs;
            this.out = out;
            this.tmp = tmp;
            this.dir = new HadoopDir(tmp, conf);
        }

        static Output begin(String uri, Configuration conf) throws IOException {
            Path out = new Path(uri);
            FileSystem fs = out.getFileSystem(conf);
            out = fs.makeQualified(out);
            AtomicOutput.checkReplaceable(fs, out, EvalSummary.FILE, "--output", "an rq eval output");
            Path parent = out.getParent();
            if (parent == null) {
                throw new IllegalArgumentException("--output must not be a file system root: " + out);
            }
            fs.mkdirs(parent);
            return new Output(fs, out, new Path(parent, "." + out.getName() + ".tmp-" + UUID.randomUUID()), conf);
        }

        Path tmp() {
            return tmp;
        }

        HadoopDir dir() {
            return dir;
        }

        /** Writes the report, then the summary (last), and renames the folder into place. */
        String commit(EvalSummary summary, String title) throws IOException {
            try (OutputStream s = dir.create(REPORT)) {
                EvalReport.section(HtmlReport.titled(title), summary).write(s);
            }
            try (OutputStream s = dir.create(EvalSummary.FILE)) {
                s.write(summary.toJson());
            }
            AtomicOutput.replace(fs, tmp, out);
            committed = true;
            return out.toString();
        }

        void abortUnlessCommitted() throws IOException {
            if (!committed) {
                fs.delete(tmp, true);
            }
        }
    }
}
