package dev.rq.jobs.tokenize;

import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.dataset.DatasetInfo;
import dev.rq.data.dataset.DatasetLayout;
import dev.rq.data.dataset.RowPlan;
import dev.rq.data.dataset.RowRange;
import dev.rq.executor.RqVaeModel;
import dev.rq.io.HadoopDir;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.io.StagedOutput;
import dev.rq.jobs.JobGroup;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.checkpoint.ModelHashes;
import dev.rq.model.config.Configs;
import dev.rq.model.config.QuantizerConfig;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.tables.TokenManifest;
import dev.rq.tables.TokenTable;
import dev.rq.tables.TokenTableSchema;
import dev.rq.tables.TokenTableWriter;
import dev.rq.tables.Variant;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
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
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code rq tokenize}: encodes every image of a canonical dataset ({@link CanonicalDataset}) with
 * an RQ-VAE checkpoint into a token table ({@link TokenTableSchema}).
 *
 * <p>Plan (driver, no cluster work): verify the checkpoint (checksums) and hash its codebook; open
 * every split and cut the rows of all its row groups into tasks of nearly equal size, in whole
 * batches ({@link #plan}). Write (one Spark job): the tasks ({@link TokenizeTask}: background
 * decode thread, fixed-size batches, the executor's shared model from {@link RqVaeModel}) feed
 * a {@link TokenTableWriter} that writes each task's Parquet files straight under the output.
 * Commit: read the written rows back and require exactly {@code images × variants} rows and
 * distinct (shard, row, variant) keys per split; write {@code _tokens_manifest.json}, which lists
 * the files, last ({@link StagedOutput}: no directory is renamed, so the same steps are safe on
 * object stores). An older table stays readable until the new manifest replaces its own; a failed
 * run removes its files and leaves an existing table untouched.
 */
public final class TokenizeJob {
    private static final Logger LOG = LoggerFactory.getLogger(TokenizeJob.class);

    /** Test hook (Spark conf): the first attempt of this partition id fails midway. */
    public static final String TEST_FAIL_PARTITION = "spark.rq.test.tokenizeFailPartition";

    /**
     * Job options.
     *
     * @param checkpoint RQ-VAE checkpoint URI
     * @param data dataset root URI (folder of splits) or one split folder
     * @param output token table URI
     * @param variants views per image
     * @param batchSize views per model call
     * @param splits splits to encode; empty = every split of the dataset
     * @param withLatents also store the pre-quantization latents
     * @param threads libtorch intra-op threads per task (model call); 0 = {@code spark.task.cpus}
     * @param rowsPerTask images per Spark task; 0 = automatic
     * @param precision compute precision of the encoder (the quantizer's distances stay float32)
     */
    public record Options(String checkpoint, String data, String output, List<Variant> variants, int batchSize,
            List<String> splits, boolean withLatents, int threads, int rowsPerTask, Precision precision) {

        /** Options for a float32 run. */
        public Options(String checkpoint, String data, String output, List<Variant> variants, int batchSize,
                List<String> splits, boolean withLatents, int threads, int rowsPerTask) {
            this(checkpoint, data, output, variants, batchSize, splits, withLatents, threads, rowsPerTask,
                    Precision.FP32);
        }

        public Options {
            Objects.requireNonNull(precision, "precision");
            Objects.requireNonNull(checkpoint, "checkpoint");
            Objects.requireNonNull(data, "data");
            Objects.requireNonNull(output, "output");
            variants = variants == null || variants.isEmpty() ? List.of(Variant.CENTER) : List.copyOf(variants);
            splits = splits == null ? List.of() : List.copyOf(splits);
            if (batchSize <= 0) {
                throw new IllegalArgumentException("batch size must be > 0, got " + batchSize);
            }
            if (threads < 0 || rowsPerTask < 0) {
                throw new IllegalArgumentException("threads and rowsPerTask must be >= 0");
            }
        }
    }

    /**
     * Outcome.
     *
     * @param tableUri the committed table
     * @param manifest its manifest
     */
    public record Result(String tableUri, TokenManifest manifest) {
        /** @return a short human summary */
        public String summary() {
            StringBuilder sb = new StringBuilder();
            sb.append(String.format(Locale.ROOT, "tokenize -> %s%n", tableUri));
            manifest.splits().forEach((k, v) -> sb.append(String.format(Locale.ROOT,
                    "  %-12s %8d images %8d rows%n", k, v.images(), v.rows())));
            TokenManifest.Job j = manifest.job();
            sb.append(String.format(Locale.ROOT, "  codes %s %s, K=%d; %d tasks, batch %d, %d threads: %.1f s, %.1f img/s%n",
                    manifest.codeShape(), manifest.codeDtype(), manifest.codebookSize(), j.tasks(), j.batchSize(),
                    j.intraOpThreads(), j.seconds(), j.imagesPerSecond()));
            return sb.toString();
        }
    }

    private TokenizeJob() {}

    /** One split of the input. */
    private record SplitInput(String name, String uri, CanonicalDataset dataset, String rel) {}

    /** What the output is: a token table, its manifest the commit marker, files never reused. */
    static final StagedOutput.Spec OUTPUT = new StagedOutput.Spec(TokenTableSchema.MANIFEST_FILE, "--output",
            "a token table", false);

    /**
     * Everything decided before any cluster work.
     *
     * @param splits the input splits
     * @param tasks per Spark task its row ranges
     * @param task the task function (model, batching, views)
     * @param threads intra-op threads per task
     * @param skeleton the manifest without counts, files and timing
     * @param schema the rows' schema (provenance in the codes metadata)
     */
    private record Plan(List<SplitInput> splits, List<RowPlan.Task> tasks, TokenizeTask task, RqVaeModel model,
            int threads, TokenManifest skeleton, StructType schema) {}

    /** Runs the job on {@code spark} (any master): plan, write, commit. */
    public static Result run(SparkSession spark, Options o) throws IOException {
        return JobGroup.run(spark, "rq-tokenize", "rq tokenize " + o.data() + " -> " + o.output(), false, () -> {
            Plan p = plan(spark, o);
            try (StagedOutput out = StagedOutput.begin(o.output(), spark.sparkContext().hadoopConfiguration(),
                    OUTPUT)) {
                long t0 = System.nanoTime();
                List<TokenManifest.DataFile> files = write(spark, p, out);
                double seconds = (System.nanoTime() - t0) / 1e9;
                return commit(spark, o, p, out, files, seconds);
            }
        });
    }

    /** Verifies the checkpoint, opens the splits and cuts them into tasks (no cluster work). */
    private static Plan plan(SparkSession spark, Options o) throws IOException {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        Configuration conf = jsc.hadoopConfiguration();
        SerializableHadoopConf sconf = new SerializableHadoopConf(conf);

        // checkpoint: verified here once, and again by every executor that loads it
        HadoopDir ckptDir = new HadoopDir(o.checkpoint(), conf);
        Checkpoints.Loaded ckpt = Checkpoints.read(ckptDir);
        if (!VaeCheckpoint.KIND.equals(ckpt.manifest().kind())) {
            throw new CheckpointException(ckptDir.uri() + " holds a '" + ckpt.manifest().kind() + "' model, not an RQ-VAE");
        }
        RqVaeRunConfig config = ckpt.config(RqVaeRunConfig.class);
        QuantizerConfig q = config.model().hparams();
        String modelSha = ckpt.manifest().files().get(Checkpoints.MODEL).sha256();
        String codebookSha = ModelHashes.codebookSha256(ckpt, q);
        int size = config.model().ddconfig().resolution();
        int[] codeShape = {q.codeShape().get(0), q.codeShape().get(1), q.depth()};
        int[] ks = new int[q.depth()];
        int maxK = 0;
        for (int d = 0; d < ks.length; d++) {
            ks[d] = q.codebookSize(d);
            maxK = Math.max(maxK, ks[d]);
        }
        TokenTableSchema.CodeType codeType = TokenTableSchema.CodeType.forCodebookSize(maxK);

        // input splits and work units
        List<SplitInput> splits = splits(o, conf);
        for (SplitInput s : splits) {
            if (s.dataset().numRows() == 0) {
                throw new IllegalArgumentException("--data: dataset split " + s.uri() + " is empty (0 images):"
                        + " nothing to tokenize");
            }
        }
        List<String> labelNames = splits.get(0).dataset().classNames();
        for (SplitInput s : splits) {
            if (!s.dataset().classNames().equals(labelNames)) {
                throw new IllegalArgumentException("splits disagree on class names: " + splits.get(0).name() + " vs "
                        + s.name());
            }
        }
        long totalImages = splits.stream().mapToLong(s -> s.dataset().numRows()).sum();
        List<RowRange> groups = new ArrayList<>();
        for (SplitInput s : splits) {
            groups.addAll(RowPlan.rowGroups(s.dataset(), s.name(), s.rel()));
        }
        // images per whole number of batches: tasks of a multiple of this pad no batch mid-split
        int perBatch = o.batchSize() / java.math.BigInteger.valueOf(o.batchSize())
                .gcd(java.math.BigInteger.valueOf(o.variants().size())).intValue();
        int taskCount = RowPlan.taskCount(totalImages, jsc.defaultParallelism(), perBatch, o.rowsPerTask());
        List<RowPlan.Task> tasks = RowPlan.cut(groups, taskCount, perBatch);
        int threads = o.threads() > 0 ? o.threads() : taskCpus(spark);

        // provenance (counts, files and timing are added at the commit)
        TokenManifest skeleton = skeleton(o, ckptDir.uri(), ckpt, config, modelSha, codebookSha, codeType, maxK,
                labelNames, spark);
        StructType schema = TokenTableSchema.schema(codeType, o.withLatents(), skeleton.toCompactJson());
        int failPartition = Integer.parseInt(spark.conf().get(TEST_FAIL_PARTITION, "-1"));
        RqVaeModel model = new RqVaeModel(ckptDir.uri(), modelSha, threads, o.precision(), sconf);
        TokenizeTask task = new TokenizeTask(model, sconf, o.variants(), o.batchSize(), size, codeShape, ks,
                codeType == TokenTableSchema.CodeType.INT16, o.withLatents(), q.embedDim(), failPartition);
        LOG.info("tokenize {} images ({} splits) x {} variants in {} tasks of about {} images, batch {}, {} threads/task",
                totalImages, splits.size(), o.variants().size(), tasks.size(), totalImages / tasks.size(),
                o.batchSize(), threads);
        return new Plan(splits, tasks, task, model, threads, skeleton, schema);
    }

    /** One Spark job: encodes every task's rows and writes them under the output; @return the files */
    private static List<TokenManifest.DataFile> write(SparkSession spark, Plan p, StagedOutput out) {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        if (spark.sparkContext().isLocal()) { // the driver JVM is the executor: load while Spark plans
            p.model().preloadInBackground();
        }
        JavaRDD<Row> rows = jsc.parallelize(p.tasks(), p.tasks().size()).mapPartitions(p.task(), false);
        return TokenTableWriter.write(rows, out, "", p.schema(), jsc.hadoopConfiguration());
    }

    /** Checks the written rows, then writes the manifest (the commit marker) last. */
    private static Result commit(SparkSession spark, Options o, Plan p, StagedOutput out,
            List<TokenManifest.DataFile> files, double seconds) throws IOException {
        Map<String, TokenManifest.SplitCounts> counts = verifyCounts(spark, out.uri(), files, p.splits(),
                o.variants().size());
        long totalRows = counts.values().stream().mapToLong(TokenManifest.SplitCounts::rows).sum();
        TokenManifest.Job job = new TokenManifest.Job(o.batchSize(), spark.sparkContext().master(), p.tasks().size(),
                p.threads(), round(seconds, 3), round(totalRows / seconds, 2));
        TokenManifest manifest = p.skeleton().withResults(counts,
                Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(), job).withFiles(files);
        out.commit(TokenTableWriter.outputPaths("", files), manifest.toJson().getBytes(StandardCharsets.UTF_8));
        LOG.info("tokenize committed {}: {} rows in {} files, {} s ({} rows/s)", out.uri(), totalRows, files.size(),
                job.seconds(), job.imagesPerSecond());
        return new Result(out.uri(), manifest);
    }

    private static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }

    /** @return the cores Spark reserves per task ({@code spark.task.cpus}, default 1) */
    private static int taskCpus(SparkSession spark) {
        return Integer.parseInt(spark.conf().get("spark.task.cpus", "1"));
    }

    private static List<SplitInput> splits(Options o, Configuration conf) throws IOException {
        Path root = new Path(o.data());
        FileSystem fs = root.getFileSystem(conf);
        root = fs.makeQualified(root);
        List<SplitInput> out = new ArrayList<>();
        if (fs.exists(new Path(root, DatasetLayout.INFO_FILE))) { // a single split folder
            CanonicalDataset ds = CanonicalDataset.open(root.toString(), conf);
            String name = ds.info().split();
            if (!o.splits().isEmpty() && !o.splits().contains(name)) {
                throw new IllegalArgumentException(o.data() + " is split '" + name + "', not " + o.splits());
            }
            out.add(new SplitInput(name, root.toString(), ds, root.getName()));
            return out;
        }
        if (!fs.exists(root)) {
            throw new IllegalArgumentException("--data: dataset " + o.data() + " does not exist (make one with rq"
                    + " ingest, or check the path)");
        }
        TreeMap<String, Path> found = new TreeMap<>();
        for (FileStatus st : fs.listStatus(root)) {
            if (st.isDirectory() && fs.exists(new Path(st.getPath(), DatasetLayout.INFO_FILE))) {
                found.put(st.getPath().getName(), st.getPath());
            }
        }
        List<String> names = o.splits().isEmpty() ? new ArrayList<>(found.keySet()) : o.splits();
        for (String n : names) {
            Path p = found.get(n);
            if (p == null) {
                throw new IllegalArgumentException("dataset " + o.data() + " has no complete split '" + n
                        + "' (found " + found.keySet() + ")");
            }
            out.add(new SplitInput(n, p.toString(), CanonicalDataset.open(p.toString(), conf), n));
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("--data: " + o.data() + " holds no dataset split (no */"
                    + DatasetLayout.INFO_FILE + "): pass a dataset written by rq ingest");
        }
        return out;
    }


    /**
     * Reads the written rows back: per split exactly images × variants rows (in the writers' counts
     * and in the data), all (shard, row, variant) keys distinct.
     */
    private static Map<String, TokenManifest.SplitCounts> verifyCounts(SparkSession spark, String root,
            List<TokenManifest.DataFile> files, List<SplitInput> splits, int variants) {
        if (files.isEmpty()) {
            throw new IllegalStateException("the job wrote no Parquet files under " + root);
        }
        Map<String, Long> fileRows = new LinkedHashMap<>();
        files.forEach(f -> fileRows.merge(f.split(), f.rows(), Long::sum));
        Dataset<Row> t = TokenTable.rows(spark, root, files.stream().map(f -> new Path(root, f.path())).toList());
        List<Row> agg = t.groupBy(TokenTableSchema.SPLIT)
                .agg(functions.count(functions.lit(1)).alias("n"),
                        functions.countDistinct(functions.col(TokenTableSchema.SOURCE_SHARD),
                                functions.col(TokenTableSchema.SOURCE_ROW), functions.col(TokenTableSchema.VARIANT))
                                .alias("keys"))
                .collectAsList();
        Map<String, long[]> got = new LinkedHashMap<>();
        for (Row r : agg) {
            got.put(r.getAs(TokenTableSchema.SPLIT).toString(), new long[] {r.getLong(1), r.getLong(2)});
        }
        Map<String, TokenManifest.SplitCounts> counts = new LinkedHashMap<>();
        for (SplitInput s : splits) {
            long images = s.dataset().numRows();
            long expected = images * variants;
            long[] g = got.getOrDefault(s.name(), new long[2]);
            long inFiles = fileRows.getOrDefault(s.name(), 0L);
            if (g[0] != expected || g[1] != expected || inFiles != expected) {
                throw new IllegalStateException("row count check failed for split " + s.name() + ": expected "
                        + expected + " rows (" + images + " images x " + variants + " variants), wrote " + g[0]
                        + " rows (" + inFiles + " by the writers' counts) with " + g[1]
                        + " distinct (shard, row, variant) keys");
            }
            Map<String, Long> shards = new LinkedHashMap<>();
            DatasetInfo info = s.dataset().info();
            info.shards().forEach(sh -> shards.put(s.rel() + "/" + sh.file(), sh.rows()));
            counts.put(s.name(), new TokenManifest.SplitCounts(images, expected, shards));
        }
        if (got.size() != splits.size()) {
            throw new IllegalStateException("unexpected splits in the output: " + got.keySet());
        }
        return counts;
    }

    private static TokenManifest skeleton(Options o, String ckptUri, Checkpoints.Loaded ckpt, RqVaeRunConfig config,
            String modelSha, String codebookSha, TokenTableSchema.CodeType codeType, int maxK,
            List<String> labelNames, SparkSession spark) {
        QuantizerConfig q = config.model().hparams();
        int size = config.model().ddconfig().resolution();
        List<Integer> ks = new ArrayList<>();
        for (int d = 0; d < q.depth(); d++) {
            ks.add(q.codebookSize(d));
        }
        TokenManifest.Tokenizer tok = new TokenManifest.Tokenizer(ckptUri, modelSha, codebookSha,
                ModelHashes.CODEBOOK_HASH_OF, ckpt.manifest().kind(), ckpt.manifest().step(), ckpt.manifest().configHash(),
                Configs.toTree(config.model()), o.precision().id());
        TokenManifest.Preprocess pre = new TokenManifest.Preprocess(
                "ImageIO + TwelveMonkeys (dev.rq.data.image.ImageDecoding): 8-bit sRGB, alpha composited on white,"
                        + " EXIF orientation applied",
                "RGB",
                "shorter side to " + size + " (aspect kept, rounded like torchvision Resize(int))",
                "bilinear with antialias, Pillow-exact (dev.rq.data.image.Resampling)",
                size,
                "center " + size + "x" + size + ", offsets round((dim-" + size + ")/2) half-to-even",
                List.of(-1.0, 1.0),
                "((v/255) - 0.5) / 0.5",
                "NCHW float32");
        TokenManifest.Latents lat = o.withLatents()
                ? new TokenManifest.Latents(TokenTableSchema.LATENTS, TokenTableSchema.LATENT_DTYPE,
                        List.of(q.codeShape().get(0), q.codeShape().get(1), q.embedDim()), "little-endian",
                        "pre-quantization latent z_e (encoder + quant_conv, eval mode), channels last [h, w, C]")
                : null;
        TokenManifest.Source src = new TokenManifest.Source(qualify(o.data(), spark), DatasetInfo.FORMAT,
                DatasetLayout.IMAGE, DatasetLayout.LABEL);
        Map<String, String> createdBy = new LinkedHashMap<>();
        createdBy.put("app", "rq tokenize");
        createdBy.put("rq", Checkpoints.projectVersion());
        createdBy.put("spark", org.apache.spark.package$.MODULE$.SPARK_VERSION());
        Engines.versions().forEach((k, v) -> createdBy.put(k.toString(), v.toString()));
        return new TokenManifest(TokenTableSchema.FORMAT, TokenTableSchema.SCHEMA_VERSION,
                List.of(q.codeShape().get(0), q.codeShape().get(1), q.depth()), TokenTableSchema.CODE_LAYOUT,
                codeType.manifestName, maxK, ks, q.depth(), q.sharedCodebook(), tok, pre,
                Variant.meanings(o.variants()), lat, src, labelNames, Map.of(), createdBy, null, null);
    }

    private static String qualify(String uri, SparkSession spark) {
        try {
            Path p = new Path(uri);
            return p.getFileSystem(spark.sparkContext().hadoopConfiguration()).makeQualified(p).toString();
        } catch (IOException e) {
            return uri;
        }
    }
}
