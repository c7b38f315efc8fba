package dev.rq.jobs.eval;

import dev.rq.io.PretrainedWeights;
import static org.apache.spark.sql.functions.col;

import dev.rq.data.dataset.RowPlan;
import dev.rq.data.dataset.RowRange;
import dev.rq.io.HadoopDir;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.io.StagedOutput;
import dev.rq.jobs.JobGroup;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.checkpoint.ModelHashes;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.EvalConfig;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.metrics.FrechetDistance;
import dev.rq.model.metrics.GaussianStats;
import dev.rq.model.metrics.InceptionScore;
import dev.rq.model.metrics.InceptionV3;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.tables.SampleLayout;
import dev.rq.tables.TokenManifest;
import dev.rq.tables.TokenTable;
import dev.rq.tables.TokenTableSchema;
import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

/**
 * {@code rq eval --generated}: FID and Inception Score of generated images against reference
 * statistics, as a Spark job.
 *
 * <p>Generated images: an {@code rq sample} output (or any token table): its codes are decoded
 * with the RQ-VAE that produced them (the table's tokenizer checkpoint, or {@code --vae}; the
 * codebook must match) and fed to the FID network in float, as the official {@code
 * main_sampling_fid.py} does; or a canonical dataset of image files (e.g. PNGs ingested with
 * {@code rq ingest}), read through the evaluation transform at {@code --resolution}.
 *
 * <p>Reference: an {@code .npz} with {@code mu} and {@code sigma} (pytorch-fid's layout, e.g. the
 * official {@code assets/fid_stats/imagenet_256_train.npz}, or {@code stats/original.npz} of an
 * earlier {@code rq eval}), or a canonical dataset split whose statistics are computed here (at
 * the generated images' resolution) and written to {@code stats/reference.npz} for reuse.
 *
 * <p>Order: generated rows sorted by (split, label, source shard, source row, variant, id),
 * numbered, grouped into fixed batches by number; statistics in that order ({@link FeatureStats}),
 * so results do not depend on the number of workers. FID is {@code frechet_distance(mu_ref,
 * sigma_ref, mu_gen, sigma_gen)}; the Inception Score uses {@code eval.is_splits} consecutive parts.
 */
public final class GeneratedEvalJob {
    private static final Logger LOG = LoggerFactory.getLogger(GeneratedEvalJob.class);

    /** Per-image rows of the generated images, under the output. */
    public static final String GENERATED_DIR = "generated";
    /** Per-image rows of a reference dataset, under the output. */
    public static final String REFERENCE_DIR = "reference";

    static final String FID_PROTOCOL = "FID: generated images decoded from their codes in float (or read from"
            + " files through the evaluation transform), mapped to [0, 1] by clamp(x*0.5 + 0.5, 0, 1); FID Inception V3"
            + " pool features (bilinear resize to 299x299, then 2x - 1); mean and covariance (N - 1) in float64;"
            + " Frechet distance to the reference statistics with the eigenvalue form of tr sqrt(S1 S2)."
            + " Inception Score: softmax of the 1008 logits, consecutive parts in generation order (the official"
            + " loader shuffles first), exp(mean KL(p || part mean)), mean and standard deviation over parts.";

    /**
     * Options.
     *
     * @param generated {@code rq sample} output, token table, or canonical dataset (root or split folder)
     * @param generatedSplit split when {@code generated} is a dataset root
     * @param reference {@code .npz} statistics file, or canonical dataset (root or split folder)
     * @param referenceSplit split when {@code reference} is a dataset root
     * @param resolution side images are transformed to when read from files (required for a generated
     *     dataset; a reference dataset defaults to the generated images' side)
     * @param vae RQ-VAE checkpoint decoding a token table (default: the table's tokenizer)
     * @param output output folder URI
     * @param overrides {@code eval.<key>=value} settings
     * @param limit evaluate only the first {@code limit} generated images (0 = all)
     * @param threads libtorch intra-op threads per task (0 = {@code spark.task.cpus})
     * @param rowsPerTask images per Spark task (0 = automatic)
     */
    public record Options(String generated, String generatedSplit, String reference, String referenceSplit,
            Integer resolution, String vae, String output, List<String> overrides, long limit, int threads,
            int rowsPerTask) {
        public Options {
            Objects.requireNonNull(generated, "generated");
            Objects.requireNonNull(reference, "reference");
            Objects.requireNonNull(output, "output");
            generatedSplit = generatedSplit == null ? "val" : generatedSplit;
            referenceSplit = referenceSplit == null ? "train" : referenceSplit;
            overrides = overrides == null ? List.of() : List.copyOf(overrides);
            if (resolution != null && resolution < 1) {
                throw new IllegalArgumentException("--resolution must be >= 1, got " + resolution);
            }
            if (limit < 0 || threads < 0 || rowsPerTask < 0) {
                throw new IllegalArgumentException("--limit, --threads and --rows-per-task must be >= 0");
            }
        }
    }

    private GeneratedEvalJob() {}

    /** Runs the job on {@code spark} (any master). */
    public static EvalJob.Result run(SparkSession spark, Options o) throws IOException {
        return JobGroup.run(spark, "rq-eval", "rq eval --generated " + o.generated() + " --reference " + o.reference(),
                false, () -> doRun(spark, JavaSparkContext.fromSparkContext(spark.sparkContext()), o));
    }

    /** The generated images: a token table to decode, or a dataset split. */
    private record Generated(TokenTable table, Long vaeStep, String vaeUri, String vaeSha,
            EvalJob.Split split, int size, EvalConfig base) {}

    private static EvalJob.Result doRun(SparkSession spark, JavaSparkContext jsc, Options o) throws IOException {
        Configuration conf = jsc.hadoopConfiguration();
        Generated g = generated(spark, o, conf);
        EvalConfig ec = EvalConfigs.resolve(g.base(), o.overrides());
        if (ec.inceptionWeights() == null) {
            throw new ConfigException("eval.inception_weights", "FID needs the FID Inception weights (--set"
                    + " eval.inception_weights=<safetensors URI>; docs/eval.md has the one-line conversion)");
        }
        PretrainedWeights inception = EvalJob.inceptionWeights(ec, conf);
        GaussianStats refStats = null;
        EvalJob.Split refSplit = null;
        int refSize = o.resolution() != null ? o.resolution() : g.size();
        if (isNpz(o.reference(), conf)) {
            try (InputStream in = new HadoopDir(new Path(o.reference()).getParent().toString(), conf)
                    .open(new Path(o.reference()).getName())) {
                refStats = GaussianStats.readNpz(in, o.reference());
            }
            if (refStats.dim() != InceptionV3.FEATURES) {
                throw new IllegalArgumentException("--reference " + o.reference() + " holds " + refStats.dim()
                        + "-d statistics, the FID features are " + InceptionV3.FEATURES + "-d");
            }
        } else {
            refSplit = EvalJob.split(o.reference(), o.referenceSplit(), conf, "--reference");
        }
        int batch = ec.batchSize();
        int threads = o.threads() > 0 ? o.threads() : Integer.parseInt(spark.conf().get("spark.task.cpus", "1"));
        SerializableHadoopConf sconf = new SerializableHadoopConf(conf);
        EvalModels models = new EvalModels(g.vaeUri(), g.vaeSha(), inception.uri(), inception.sha256(),
                ec.inceptionSize(), null, null, threads, sconf);

        try (StagedOutput out = StagedOutput.begin(o.output(), conf, EvalJob.OUTPUT)) {
            long t0 = System.nanoTime();
            EvalJob.Written written = new EvalJob.Written();
            List<TokenManifest.DataFile> genFiles;
            long images;
            int tasks;
            if (g.table() != null) {
                images = count(g, o);
                tasks = RowPlan.taskCount(images, jsc.defaultParallelism(), batch, o.rowsPerTask());
                tasks = (int) Math.max(1, Math.min(tasks, (images + batch - 1) / batch));
                genFiles = written.table(out, GENERATED_DIR, fromCodes(g, images, tasks, models, batch), conf);
            } else {
                List<RowRange> ranges = RowPlan.head(RowPlan.rowGroups(g.split().dataset(), g.split().name(), g.split().rel()),
                        o.limit());
                images = ranges.stream().mapToLong(RowRange::rows).sum();
                checkCount(images, "--generated " + o.generated());
                List<RowPlan.Task> plan = RowPlan.cut(ranges,
                        RowPlan.taskCount(images, jsc.defaultParallelism(), batch, o.rowsPerTask()), batch);
                tasks = plan.size();
                genFiles = written.table(out, GENERATED_DIR, jsc.parallelize(plan, plan.size())
                        .mapPartitions(new ImageEvalTask(models, sconf, g.size(), batch, false, true), false), conf);
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            Dataset<Row> gen = EvalJob.readBack(spark, out, GENERATED_DIR, genFiles, images);
            GaussianStats genStats = FeatureStats.gaussian(gen, EvalTable.FEATURES, images);
            InceptionScore.Result is = FeatureStats.inceptionScore(gen, images, ec.isSplits());
            written.stats(out, "generated", genStats);
            Long refImages = null;
            if (refSplit != null) {
                List<RowRange> ranges = RowPlan.rowGroups(refSplit.dataset(), refSplit.name(), refSplit.rel());
                long n = ranges.stream().mapToLong(RowRange::rows).sum();
                checkCount(n, "--reference " + o.reference());
                List<RowPlan.Task> plan = RowPlan.cut(ranges,
                        RowPlan.taskCount(n, jsc.defaultParallelism(), batch, o.rowsPerTask()), batch);
                EvalModels refModels = new EvalModels(null, null, inception.uri(), inception.sha256(),
                        ec.inceptionSize(), null, null, threads, sconf);
                List<TokenManifest.DataFile> refFiles = written.table(out, REFERENCE_DIR, jsc.parallelize(plan,
                        plan.size()).mapPartitions(new ImageEvalTask(refModels, sconf, refSize, batch, false, false),
                        false), conf);
                refStats = FeatureStats.gaussian(EvalJob.readBack(spark, out, REFERENCE_DIR, refFiles, n),
                        EvalTable.FEATURES, n);
                written.stats(out, "reference", refStats);
                refImages = n;
            }
            double fid = FrechetDistance.of(refStats, genStats);
            List<String> notes = new ArrayList<>();
            if (!ec.fidProtocol()) {
                notes.add(EvalJob.notFid(ec));
            }
            if (images < InceptionV3.FEATURES) {
                notes.add(String.format(Locale.ROOT, "FID of %d < %d images: the covariance is singular and FID is"
                        + " biased upwards; compare only runs with the same number of images (the paper uses 50,000)",
                        images, InceptionV3.FEATURES));
            }
            EvalSummary summary = new EvalSummary(EvalSummary.FORMAT, EvalSummary.VERSION, "generated",
                    new EvalSummary.Inputs(g.vaeUri(), g.vaeSha(), g.vaeStep(), null, null, g.size(),
                            qualify(o.generated(), conf),
                            refSplit != null ? refSplit.uri() : qualify(o.reference(), conf), refImages),
                    images, null, null, null, null, fid, new EvalSummary.Score(is.mean(), is.std(), is.parts()), null,
                    new EvalSummary.Networks(inception.uri(), inception.sha256(), null, null), List.of(FID_PROTOCOL),
                    notes.isEmpty() ? null : notes,
                    new EvalSummary.Job(spark.sparkContext().master(), tasks, batch, threads, EvalJob.round(seconds),
                            EvalJob.round(images / seconds)),
                    written.tables, written.stats, EvalJob.createdBy(),
                    Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
            EvalJob.commit(out, summary, "rq eval --generated", written);
            LOG.info("eval --generated committed {}: {} images, FID {}", out.uri(), images, fid);
            return new EvalJob.Result(out.uri(), summary);
        }
    }

    private static void checkCount(long images, String what) {
        if (images < 2) {
            throw new IllegalArgumentException(what + " has " + images + " images; FID needs at least 2");
        }
    }

    /** @return the number of generated images to evaluate (all rows, or the first {@code --limit}) */
    private static long count(Generated g, Options o) {
        long total = g.table().rows().count();
        long images = o.limit() > 0 ? Math.min(total, o.limit()) : total;
        checkCount(images, "--generated " + o.generated());
        return images;
    }

    /**
     * The rows of a token table, decoded and evaluated: sorted, numbered ({@code zipWithIndex}),
     * grouped into batches by number, one {@link CodesEvalTask} call per batch.
     */
    private static JavaRDD<Row> fromCodes(Generated g, long images, int tasks, EvalModels models, int batch) {
        Dataset<Row> rows = g.table().rows().select(col(TokenTableSchema.SPLIT), col(TokenTableSchema.ID),
                        col(TokenTableSchema.LABEL), col(TokenTableSchema.SOURCE_SHARD), col(TokenTableSchema.SOURCE_ROW),
                        col(TokenTableSchema.VARIANT), col(TokenTableSchema.CODES))
                .orderBy(TokenTableSchema.SPLIT, TokenTableSchema.LABEL, TokenTableSchema.SOURCE_SHARD,
                        TokenTableSchema.SOURCE_ROW, TokenTableSchema.VARIANT, TokenTableSchema.ID);
        JavaPairRDD<Long, CodeItem> keyed = rows.javaRDD().zipWithIndex()
                .filter(t -> t._2() < images)
                .mapToPair(t -> {
                    Row r = t._1();
                    long label = r.isNullAt(2) ? -1L : r.getLong(2);
                    return new Tuple2<>(t._2() / batch, new CodeItem(t._2(), r.getString(0), r.getString(1), label,
                            r.getString(3), r.getLong(4), TokenTable.codes(r)));
                });
        return keyed.groupByKey(tasks).mapPartitions(new CodesEvalTask(models, batch, g.size(), g.table().codeShape()),
                false);
    }

    private static Generated generated(SparkSession spark, Options o, Configuration conf) throws IOException {
        String tableUri = tokenTableUri(o.generated(), conf);
        if (tableUri == null) {
            if (o.resolution() == null) {
                throw new IllegalArgumentException("--resolution: a generated dataset of image files needs the side"
                        + " to evaluate its images at (e.g. the model resolution)");
            }
            EvalJob.Split s = EvalJob.split(o.generated(), o.generatedSplit(), conf, "--generated");
            return new Generated(null, null, null, null, s, o.resolution(), EvalConfig.defaults());
        }
        TokenTable table = TokenTable.read(spark, tableUri);
        TokenManifest m = table.manifest();
        String vaeUri = o.vae() != null ? o.vae() : m.tokenizer().checkpointUri();
        HadoopDir dir = new HadoopDir(vaeUri, conf);
        Checkpoints.Loaded ckpt = Checkpoints.read(dir);
        if (!VaeCheckpoint.KIND.equals(ckpt.manifest().kind())) {
            throw new CheckpointException(dir.uri() + " holds a '" + ckpt.manifest().kind() + "' model, not an RQ-VAE");
        }
        RqVaeRunConfig config = ckpt.config(RqVaeRunConfig.class);
        String sha = ModelHashes.codebookSha256(ckpt.model(), config.model().hparams());
        if (!sha.equals(m.tokenizer().codebookSha256())) {
            throw new IllegalArgumentException("--vae: the codebook of " + vaeUri + " (SHA-256 " + sha
                    + ") is not the one that produced " + tableUri + " (" + m.tokenizer().codebookSha256() + ")");
        }
        String modelSha = ckpt.manifest().files().get(Checkpoints.MODEL).sha256();
        int size = config.model().ddconfig().resolution();
        return new Generated(table, ckpt.manifest().step(), dir.uri(), modelSha, null, size, config.eval());
    }

    /** @return the token table of an {@code rq sample} output or a token table itself, or null */
    private static String tokenTableUri(String uri, Configuration conf) throws IOException {
        Path p = new Path(uri);
        FileSystem fs = p.getFileSystem(conf);
        if (fs.exists(new Path(p, TokenTableSchema.MANIFEST_FILE))) {
            return uri;
        }
        Path codes = new Path(p, SampleLayout.CODES_DIR);
        if (fs.exists(new Path(codes, TokenTableSchema.MANIFEST_FILE))) {
            return codes.toString();
        }
        if (!fs.exists(p)) {
            throw new IllegalArgumentException("--generated: " + uri + " does not exist");
        }
        return null;
    }

    private static boolean isNpz(String uri, Configuration conf) throws IOException {
        Path p = new Path(uri);
        FileSystem fs = p.getFileSystem(conf);
        if (!fs.exists(p)) {
            throw new IllegalArgumentException("--reference: " + uri + " does not exist");
        }
        return fs.getFileStatus(p).isFile();
    }

    private static String qualify(String uri, Configuration conf) throws IOException {
        Path p = new Path(uri);
        return p.getFileSystem(conf).makeQualified(p).toString();
    }
}
