package dev.rq.jobs.sample;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.io.FileListing;
import dev.rq.io.HadoopDir;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.io.StagedOutput;
import dev.rq.jobs.JobGroup;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.checkpoint.ModelHashes;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.Configs;
import dev.rq.model.config.QuantizerConfig;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.SamplingConfig;
import dev.rq.model.config.TransformerConfig;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.sampling.RqSampler;
import dev.rq.model.transformer.TransformerCheckpoint;
import dev.rq.model.util.Rng;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.report.HtmlReport;
import dev.rq.tables.SampleLayout;
import dev.rq.tables.TokenManifest;
import dev.rq.tables.TokenTable;
import dev.rq.tables.TokenTableSchema;
import dev.rq.tables.TokenTableWriter;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code rq sample}: class-conditional images from an RQ-Transformer checkpoint, as a Spark job.
 *
 * <p>Plan (driver, no cluster work): verify the RQ-VAE checkpoint (checksums) and the transformer's
 * manifest (its weights, possibly many GB, are verified by the executors as they load), check that the RQ-VAE
 * fits the transformer (code shape, codebook size and dimension), resolve the classes and the
 * sampling settings (checkpoint config's {@code sampling} section, overridden by options); cut the
 * (class, index) samples, class-major, into work units of one batch each. Write: one Spark task per
 * unit ({@link SampleTask}: executor-wide models from {@link SamplerModel}, KV-cached batched
 * sampling with one generator per sample, decoding, PNGs written straight under the output) feeding
 * a {@link TokenTableWriter} for the generated-codes table. Commit ({@link StagedOutput}, no
 * directory rename): check the rows and PNGs; write per-class grids, {@code index.html} and, last,
 * the table's {@code _tokens_manifest.json}. A rerun reuses the image names, so it invalidates an
 * older output (deletes its manifest) before writing; a failed run deletes what it wrote.
 *
 * <p>Reproducibility: sample {@code i} of class {@code c} draws from {@link #generator}{@code
 * (seed, c, i)} only, so its codes depend on the seed, the checkpoints and the sampling settings,
 * not on the number of workers, the batch size or which other samples are generated.
 */
public final class SampleJob {

    /**
     * Spark setting: {@code true} (default) lets the tasks of an executor sample and decode
     * concurrently on its shared models (one lane per task slot, {@code threads} each); {@code
     * false} serializes the model calls per executor (one lane of the executor's cores; the design
     * before lanes, for comparison).
     */
    public static final String LANES_CONF = "spark.rq.sample.lanes";
    private static final Logger LOG = LoggerFactory.getLogger(SampleJob.class);

    /**
     * Options. Null sampling values fall back to the checkpoint config's {@code sampling} section.
     *
     * @param checkpoint RQ-Transformer checkpoint URI
     * @param vae RQ-VAE checkpoint URI, or null for the checkpoint config's {@code vae.checkpoint}
     * @param classes {@code all} or comma-separated class ids
     * @param perClass samples per class (≥ 1)
     * @param output output folder URI
     * @param temperature sampling temperature, or null
     * @param topK top-k (0: none), or null
     * @param topP top-p, or null
     * @param seed run seed
     * @param batchSize samples per model call, or null
     * @param threads libtorch intra-op threads per model call; 0 = the executor's cores divided among
     *     its task slots (with {@link #LANES_CONF} false: the executor's cores)
     * @param precision compute precision of the transformer and the decoder (logits and sampling
     *     stay float32)
     * @param cfgScale classifier-free guidance scale ({@code sampling.cfg_scale}), or null for the
     *     checkpoint config's
     */
    public record Options(String checkpoint, String vae, String classes, int perClass, String output,
            Double temperature, Integer topK, Double topP, long seed, Integer batchSize, int threads,
            Precision precision, Double cfgScale) {

        /** Options with the checkpoint config's guidance scale. */
        public Options(String checkpoint, String vae, String classes, int perClass, String output,
                Double temperature, Integer topK, Double topP, long seed, Integer batchSize, int threads,
                Precision precision) {
            this(checkpoint, vae, classes, perClass, output, temperature, topK, topP, seed, batchSize, threads,
                    precision, null);
        }

        /** Options for a float32 run. */
        public Options(String checkpoint, String vae, String classes, int perClass, String output,
                Double temperature, Integer topK, Double topP, long seed, Integer batchSize, int threads) {
            this(checkpoint, vae, classes, perClass, output, temperature, topK, topP, seed, batchSize, threads,
                    Precision.FP32);
        }

        public Options {
            Objects.requireNonNull(precision, "precision");
            Objects.requireNonNull(checkpoint, "checkpoint");
            Objects.requireNonNull(output, "output");
            classes = classes == null ? "all" : classes;
            if (perClass <= 0) {
                throw new IllegalArgumentException("--per-class must be >= 1, got " + perClass);
            }
            if (threads < 0) {
                throw new IllegalArgumentException("--threads must be >= 0, got " + threads);
            }
            if (batchSize != null && batchSize <= 0) {
                throw new IllegalArgumentException("--batch-size must be >= 1, got " + batchSize);
            }
            if (topK != null && topK < 0) {
                throw new IllegalArgumentException("--top-k must be >= 0 (0: none), got " + topK);
            }
            if (topP != null && !(topP > 0 && topP <= 1)) {
                throw new IllegalArgumentException("--top-p must be in (0, 1], got " + topP);
            }
            if (temperature != null && !(temperature > 0)) {
                throw new IllegalArgumentException("--temperature must be positive, got " + temperature);
            }
            if (cfgScale != null && !(Double.isFinite(cfgScale) && cfgScale >= 0)) {
                throw new IllegalArgumentException("--cfg-scale must be a finite number >= 0 (1: no guidance), got "
                        + cfgScale);
            }
        }
    }

    /**
     * Outcome.
     *
     * @param outputUri the committed output folder
     * @param classes the sampled classes, in order
     * @param perClass samples per class
     * @param sampling the settings used
     * @param manifest the generated-codes table's manifest (without the sampling section)
     * @param manifestJson the whole manifest as written
     */
    public record Result(String outputUri, List<Integer> classes, int perClass, SamplingConfig sampling,
            TokenManifest manifest, String manifestJson) {
        /** @return a short human summary */
        public String summary() {
            TokenManifest.Job j = manifest.job();
            return String.format(Locale.ROOT,
                    "sample -> %s%n  %d classes x %d = %d images, codes %s K=%d (table %s/%s)%n"
                            + "  temperature %s, top-k %s, top-p %s; %d tasks, batch %d, %d threads: %.1f s, %.2f img/s%n",
                    outputUri, classes.size(), perClass, classes.size() * perClass, manifest.codeShape(),
                    manifest.codebookSize(), outputUri, SampleLayout.CODES_DIR, sampling.temperature(), sampling.topK(),
                    sampling.topP(), j.tasks(), j.batchSize(), j.intraOpThreads(), j.seconds(), j.imagesPerSecond());
        }
    }

    private SampleJob() {}

    /** @return the generator of sample {@code index} of class {@code classId} in a run seeded {@code seed} */
    public static Rng generator(long seed, int classId, int index) {
        return RqSampler.rowGenerators(seed, generatorKey(classId, index), 1)[0];
    }

    /** @return the global sample index that keys the generator: {@code classId·2^32 + index} */
    public static long generatorKey(int classId, int index) {
        return ((long) classId << 32) | (index & 0xffffffffL);
    }

    /** The two verified checkpoints and what the job needs from them. */
    record Plan(HadoopDir transformerDir, Checkpoints.Loaded transformer, TransformerRunConfig config,
            HadoopDir vaeDir, Checkpoints.Loaded vae, RqVaeRunConfig vaeConfig, List<Integer> classes,
            SamplingConfig sampling) {

        String transformerSha() {
            return transformer.manifest().files().get(Checkpoints.MODEL).sha256();
        }

        String vaeSha() {
            return vae.manifest().files().get(Checkpoints.MODEL).sha256();
        }
    }

    /** Verifies the checkpoints and resolves classes and settings (no Spark work; fails before any). */
    static Plan plan(Options o, Configuration conf) throws IOException {
        HadoopDir tDir = new HadoopDir(o.checkpoint(), conf);
        Checkpoints.Loaded t;
        try {
            t = Checkpoints.open(tDir); // manifest only: a multi-GB model is verified by the executors' load
        } catch (CheckpointException e) {
            throw new IllegalArgumentException("--checkpoint: " + e.getMessage(), e);
        }
        if (!TransformerCheckpoint.KIND.equals(t.manifest().kind())) {
            throw new IllegalArgumentException("--checkpoint: " + tDir.uri() + " holds a '" + t.manifest().kind()
                    + "' model, not an RQ-Transformer (kind " + TransformerCheckpoint.KIND + ")");
        }
        TransformerRunConfig config = TransformerRunConfig.bind(t.manifest().config().deepCopy());
        TransformerConfig mc = config.model();

        String vaeUri = o.vae();
        if (vaeUri == null) {
            vaeUri = config.vae().checkpoint();
            if (vaeUri == null) {
                throw new IllegalArgumentException("--vae: the config of " + tDir.uri()
                        + " names no RQ-VAE checkpoint (vae.checkpoint); pass --vae <stage-1 checkpoint>");
            }
        }
        HadoopDir vDir = new HadoopDir(vaeUri, conf);
        Checkpoints.Loaded v;
        try {
            v = Checkpoints.read(vDir);
        } catch (CheckpointException e) {
            throw new IllegalArgumentException("--vae: " + e.getMessage(), e);
        }
        if (!VaeCheckpoint.KIND.equals(v.manifest().kind())) {
            throw new IllegalArgumentException("--vae: " + vDir.uri() + " holds a '" + v.manifest().kind()
                    + "' model, not an RQ-VAE");
        }
        RqVaeRunConfig vaeConfig = v.config(RqVaeRunConfig.class);
        try {
            mc.checkCompatible(vaeConfig.model());
        } catch (ConfigException e) {
            throw new IllegalArgumentException("--vae: the RQ-VAE " + vDir.uri() + " does not fit the RQ-Transformer "
                    + tDir.uri() + " (its codebook must match the transformer's input embedding): "
                    + e.getMessage(), e);
        }
        return new Plan(tDir, t, config, vDir, v, vaeConfig, classes(o.classes(), mc), sampling(config, o));
    }

    /** Parses {@code --classes}: {@code all} or comma-separated ids in [0, max(vocab_size_cond, 1)). */
    static List<Integer> classes(String spec, TransformerConfig mc) {
        if (mc.condLength() != 1) {
            throw new IllegalArgumentException("--classes: the model's condition is " + mc.condLength()
                    + " tokens long (model.block_size_cond); rq sample supports class conditions (one token) only");
        }
        int n = mc.condVocab();
        String s = spec.trim();
        List<Integer> out = new ArrayList<>();
        if (s.equalsIgnoreCase("all")) {
            for (int c = 0; c < n; c++) {
                out.add(c);
            }
            return out;
        }
        LinkedHashSet<Integer> seen = new LinkedHashSet<>();
        for (String part : s.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) {
                continue;
            }
            int c;
            try {
                c = Integer.parseInt(p);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--classes: '" + p + "' is not a class id (use comma-separated"
                        + " ids or 'all')");
            }
            if (c < 0 || c >= n) {
                throw new IllegalArgumentException("--classes: class " + c + " is outside [0, " + n + "): the model"
                        + " has vocab_size_cond = " + mc.vocabSizeCond()
                        + (mc.vocabSizeCond() <= 1 ? " (unconditional: only class 0)" : ""));
            }
            if (!seen.add(c)) {
                throw new IllegalArgumentException("--classes: class " + c + " is listed twice");
            }
            out.add(c);
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("--classes: no class ids in '" + spec + "'");
        }
        return out;
    }

    /** The checkpoint config's sampling settings with the options' overrides. */
    static SamplingConfig sampling(TransformerRunConfig config, Options o) {
        SamplingConfig d = config.sampling();
        List<Integer> topK = o.topK() == null ? d.topK() : o.topK() == 0 ? null : List.of(o.topK());
        List<Double> topP = o.topP() == null ? d.topP() : List.of(o.topP());
        double cfg = o.cfgScale() == null ? d.cfgScale() : o.cfgScale();
        if (cfg != 1.0 && !config.model().hasNullClass()) {
            throw new IllegalArgumentException((o.cfgScale() == null ? "sampling.cfg_scale " : "--cfg-scale ") + cfg
                    + ": this checkpoint was trained without model.cond_drop_prob (no null class for classifier-free"
                    + " guidance); use 1");
        }
        return new SamplingConfig(o.temperature() == null ? d.temperature() : o.temperature(), topK, topP,
                o.batchSize() == null ? d.batchSize() : o.batchSize(), cfg);
    }

    /** What the output is: its codes table's manifest marks it complete; reruns reuse the image names. */
    static final StagedOutput.Spec OUTPUT = new StagedOutput.Spec(
            SampleLayout.CODES_DIR + "/" + TokenTableSchema.MANIFEST_FILE, "--output", "an rq sample output", true);

    /**
     * The Spark work of a verified {@link Plan}.
     *
     * @param task the task function (models, sampling, PNG writing)
     * @param units one batch of (class, index) pairs per task
     * @param threads intra-op threads per model call
     * @param skeleton the codes manifest without counts, files and timing
     * @param sections the manifest's {@code sampling} and {@code generator} sections
     * @param schema the codes table's schema
     */
    private record Work(SampleTask task, List<SampleUnit> units, int threads, TokenManifest skeleton,
            ObjectNode sections, StructType schema) {}

    /** Runs the job on {@code spark} (any master): plan, write, commit. */
    public static Result run(SparkSession spark, Options o) throws IOException {
        return JobGroup.run(spark, "rq-sample", "rq sample " + o.checkpoint() + " -> " + o.output(), false, () -> {
            Configuration conf = spark.sparkContext().hadoopConfiguration();
            Plan p = plan(o, conf);
            try (StagedOutput out = StagedOutput.begin(o.output(), conf, OUTPUT)) {
                Work w = work(spark, o, p, out);
                long t0 = System.nanoTime();
                JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
                JavaRDD<Row> rows = jsc.parallelize(w.units(), w.units().size()).mapPartitions(w.task(), false);
                List<TokenManifest.DataFile> files = TokenTableWriter.write(rows, out, SampleLayout.CODES_DIR, w.schema(),
                        conf);
                double seconds = (System.nanoTime() - t0) / 1e9;
                return commit(spark, o, p, w, out, files, seconds);
            }
        });
    }

    /** The task, its units and the manifest skeleton of a plan (no cluster work). */
    private static Work work(SparkSession spark, Options o, Plan p, StagedOutput out) throws IOException {
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        TransformerConfig mc = p.config().model();
        QuantizerConfig q = p.vaeConfig().model().hparams();
        int res = p.vaeConfig().model().ddconfig().resolution();
        int[] codeShape = {mc.height(), mc.width(), mc.depth()};
        int[] ks = new int[mc.depth()];
        int maxK = 0;
        for (int d = 0; d < ks.length; d++) {
            ks[d] = mc.vocab(d);
            maxK = Math.max(maxK, ks[d]);
        }
        TokenTableSchema.CodeType codeType = TokenTableSchema.CodeType.forCodebookSize(maxK);
        SamplingConfig s = p.sampling();
        List<SampleUnit> units = units(p.classes(), o.perClass(), s.batchSize());
        boolean lanes = Boolean.parseBoolean(spark.conf().get(LANES_CONF, "true"));
        // a lane is a task slot, which holds spark.task.cpus of the executor's cores
        int threads = o.threads() > 0 ? o.threads() : lanes ? taskCpus(spark) : executorCores(spark);
        ObjectNode sections = sections(p, o, s, threads);
        TokenManifest skeleton = skeleton(p, codeType, maxK, ks, q);
        StructType schema = TokenTableSchema.schema(codeType, false, withSections(skeleton, sections).toString());
        SamplerModel model = new SamplerModel(p.transformerDir().uri(), p.transformerSha(), p.vaeDir().uri(),
                p.vaeSha(), threads, lanes, o.precision(), new SerializableHadoopConf(conf));
        SampleTask task = new SampleTask(model, new SerializableHadoopConf(conf), out.uri(), s, o.seed(),
                mc.vocabSizeCond() > 1, codeShape, ks, codeType == TokenTableSchema.CodeType.INT16, res,
                SampleLayout.SPLIT);
        LOG.info("sample {} classes x {} = {} images in {} tasks, batch {}, {} threads per model call, {}",
                p.classes().size(), o.perClass(), (long) p.classes().size() * o.perClass(), units.size(), s.batchSize(),
                threads, lanes ? "one lane per task slot" : "one lane per executor (" + LANES_CONF + "=false)");
        return new Work(task, units, threads, skeleton, sections, schema);
    }

    /** Checks rows and images, writes grids and {@code index.html}, then the codes manifest last. */
    private static Result commit(SparkSession spark, Options o, Plan p, Work w, StagedOutput out,
            List<TokenManifest.DataFile> files, double seconds) throws IOException {
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        SamplingConfig s = p.sampling();
        long total = (long) p.classes().size() * o.perClass();
        verifyRows(spark, out, files, total);
        List<String> written = new ArrayList<>(TokenTableWriter.outputPaths(SampleLayout.CODES_DIR, files));
        written.addAll(verifyImages(out.fs(), out.root(), p.classes(), o.perClass()));
        List<String> grids = writeGrids(spark, new SerializableHadoopConf(conf), out.root().toString(), p.classes(),
                o.perClass());
        written.addAll(grids);
        TokenManifest.Job job = new TokenManifest.Job(s.batchSize(), spark.sparkContext().master(), w.units().size(),
                w.threads(), round(seconds, 3), round(total / seconds, 3));
        Map<String, Long> perClass = new LinkedHashMap<>();
        p.classes().forEach(c -> perClass.put(SampleLayout.classDir(c), (long) o.perClass()));
        TokenManifest manifest = w.skeleton().withResults(
                Map.of(SampleLayout.SPLIT, new TokenManifest.SplitCounts(total, total, perClass)),
                Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(), job).withFiles(files);
        writeIndex(new HadoopDir(out.root(), conf), p, o, s, grids, job);
        written.add(SampleLayout.INDEX);
        String json = withSections(manifest, w.sections()).toPrettyString();
        out.commit(written, json.getBytes(StandardCharsets.UTF_8)); // the manifest last: marks the output complete
        LOG.info("sample committed {}: {} images in {} s ({} img/s)", out.uri(), total, job.seconds(),
                job.imagesPerSecond());
        return new Result(out.uri(), p.classes(), o.perClass(), s, manifest, json);
    }

    /** Class-major (class, index) pairs cut into units of {@code batch} samples. */
    static List<SampleUnit> units(List<Integer> classes, int perClass, int batch) {
        List<SampleUnit> units = new ArrayList<>();
        long total = (long) classes.size() * perClass;
        for (long from = 0; from < total; from += batch) {
            int n = (int) Math.min(batch, total - from);
            int[] c = new int[n];
            int[] i = new int[n];
            for (int j = 0; j < n; j++) {
                long g = from + j;
                c[j] = classes.get((int) (g / perClass));
                i[j] = (int) (g % perClass);
            }
            units.add(new SampleUnit(c, i));
        }
        return units;
    }

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** The {@code sampling} and {@code generator} sections the manifest adds to the token-table manifest. */
    private static ObjectNode sections(Plan p, Options o, SamplingConfig s, int threads) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode sm = root.putObject("sampling");
        sm.put("temperature", s.temperature());
        sm.put("cfg_scale", s.cfgScale());
        if (s.topK() == null) {
            sm.putNull("top_k");
        } else {
            ArrayNode a = sm.putArray("top_k");
            s.topK().forEach(a::add);
        }
        if (s.topP() == null) {
            sm.putNull("top_p");
        } else {
            ArrayNode a = sm.putArray("top_p");
            s.topP().forEach(a::add);
        }
        sm.put("seed", o.seed());
        sm.put("batch_size", s.batchSize());
        sm.put("kv_cache", true);
        sm.put("precision", o.precision().id());
        ArrayNode cl = sm.putArray("classes");
        p.classes().forEach(cl::add);
        sm.put("per_class", o.perClass());
        sm.put("conditional", p.config().model().vocabSizeCond() > 1);
        sm.put("row_generator", "sample i of class c draws from RqSampler.rowGenerators(seed, c * 2^32 + i, 1)[0]"
                + " = Rng.of(seed, 0x5a3b1e, c * 2^32 + i): one uniform per code, in (h, w, d) order");
        sm.put("defaults_from", "the checkpoint config's sampling section, overridden by the command's options");
        ObjectNode g = root.putObject("generator");
        Checkpoints.Loaded t = p.transformer();
        g.put("checkpoint_uri", p.transformerDir().uri());
        g.put("checkpoint_sha256", p.transformerSha());
        g.put("kind", t.manifest().kind());
        g.put("train_step", t.manifest().step());
        g.put("config_hash", t.manifest().configHash());
        g.set("config", Configs.toTree(p.config().model()));
        return root;
    }

    private static ObjectNode withSections(TokenManifest m, ObjectNode sections) throws IOException {
        ObjectNode n = (ObjectNode) JSON.readTree(m.toJson());
        n.setAll(sections.deepCopy());
        return n;
    }

    private static TokenManifest skeleton(Plan p, TokenTableSchema.CodeType codeType, int maxK, int[] ks,
            QuantizerConfig q) throws IOException {
        TokenManifest.Tokenizer tok = new TokenManifest.Tokenizer(p.vaeDir().uri(), p.vaeSha(),
                ModelHashes.codebookSha256(p.vae(), q), ModelHashes.CODEBOOK_HASH_OF,
                p.vae().manifest().kind(), p.vae().manifest().step(), p.vae().manifest().configHash(),
                Configs.toTree(p.vaeConfig().model()));
        List<Integer> kl = new ArrayList<>();
        for (int k : ks) {
            kl.add(k);
        }
        Map<String, String> createdBy = new LinkedHashMap<>();
        createdBy.put("app", "rq sample");
        createdBy.put("rq", Checkpoints.projectVersion());
        createdBy.put("spark", org.apache.spark.package$.MODULE$.SPARK_VERSION());
        Engines.versions().forEach((k, v) -> createdBy.put(k.toString(), v.toString()));
        TransformerConfig mc = p.config().model();
        return new TokenManifest(TokenTableSchema.FORMAT, TokenTableSchema.SCHEMA_VERSION,
                List.of(mc.height(), mc.width(), mc.depth()), TokenTableSchema.CODE_LAYOUT, codeType.manifestName,
                maxK, kl, mc.depth(), q.sharedCodebook(), tok, null,
                Map.of("0", "sampled: codes generated by the RQ-Transformer (see sampling and generator)"), null, null,
                null, Map.of(), createdBy, null, null);
    }

    private static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }

    private static int taskCpus(SparkSession spark) {
        return Math.max(1, Integer.parseInt(spark.conf().get("spark.task.cpus", "1")));
    }

    private static int executorCores(SparkSession spark) {
        String master = spark.sparkContext().master();
        if (master.startsWith("local")) {
            return spark.sparkContext().defaultParallelism();
        }
        return Integer.parseInt(spark.conf().get("spark.executor.cores", "1"));
    }

    /** Exactly {@code total} written rows with distinct ids. */
    private static void verifyRows(SparkSession spark, StagedOutput out, List<TokenManifest.DataFile> files,
            long total) {
        String codes = out.path(SampleLayout.CODES_DIR).toString();
        if (files.isEmpty()) {
            throw new IllegalStateException("the job wrote no Parquet files under " + codes);
        }
        Row r = TokenTable.rows(spark, codes, files.stream().map(f -> new Path(codes, f.path())).toList())
                .agg(functions.count(functions.lit(1)), functions.countDistinct(functions.col(TokenTableSchema.ID)))
                .first();
        long inFiles = files.stream().mapToLong(TokenManifest.DataFile::rows).sum();
        if (r.getLong(0) != total || r.getLong(1) != total || inFiles != total) {
            throw new IllegalStateException("row count check failed: expected " + total + " samples, wrote "
                    + r.getLong(0) + " rows (" + inFiles + " by the writers' counts) with " + r.getLong(1)
                    + " distinct ids");
        }
    }

    /**
     * Every {@code images/class-<c>/<i>.png} exists, checked with one recursive listing of {@code
     * images/} (one paged listing on an object store, not one per class); other files there are
     * ignored.
     *
     * @return their paths relative to the output, class-major
     * @throws IllegalStateException naming the first missing image
     */
    static List<String> verifyImages(FileSystem fs, Path root, List<Integer> classes, int perClass)
            throws IOException {
        Map<String, Integer> classIndex = new HashMap<>();
        for (int k = 0; k < classes.size(); k++) {
            classIndex.put(SampleLayout.classDir(classes.get(k)), k);
        }
        Map<String, Integer> imageIndex = new HashMap<>();
        for (int i = 0; i < perClass; i++) {
            imageIndex.put(SampleLayout.imageName(i), i);
        }
        BitSet seen = new BitSet(classes.size() * perClass); // class position * perClass + image index
        Path images = new Path(root, SampleLayout.IMAGES_DIR);
        if (fs.exists(images)) {
            RemoteIterator<FileStatus> it = FileListing.files(fs, images);
            while (it.hasNext()) {
                Path f = it.next().getPath();
                Integer k = classIndex.get(f.getParent().getName());
                Integer i = imageIndex.get(f.getName());
                if (k != null && i != null && f.getParent().getParent().getName().equals(SampleLayout.IMAGES_DIR)) {
                    seen.set(k * perClass + i);
                }
            }
        }
        int missing = seen.nextClearBit(0);
        if (missing < classes.size() * perClass) {
            throw new IllegalStateException("image " + SampleLayout.imagePath(classes.get(missing / perClass),
                    missing % perClass) + " is missing after the job (" + (classes.size() * perClass - seen.cardinality())
                    + " of " + classes.size() * perClass + " missing)");
        }
        List<String> paths = new ArrayList<>(classes.size() * perClass);
        for (int c : classes) {
            for (int i = 0; i < perClass; i++) {
                paths.add(SampleLayout.imagePath(c, i));
            }
        }
        return paths;
    }

    /**
     * {@code grids/class-<c>.png} from the first {@link SampleLayout#GRID_MAX} PNGs of each class,
     * made in Spark tasks (a class per call; at 1,000 classes the driver would read 64,000 PNGs one
     * after the other).
     *
     * @param root the output root (the staged folder)
     * @return their paths, in class order
     */
    static List<String> writeGrids(SparkSession spark, SerializableHadoopConf conf, String root, List<Integer> classes,
            int perClass) {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        int slices = Math.max(1, Math.min(classes.size(), jsc.defaultParallelism() * 4));
        return jsc.parallelize(classes, slices).map(c -> writeGrid(conf, root, c, perClass)).collect();
    }

    /** One class's grid; @return its path relative to {@code root} */
    private static String writeGrid(SerializableHadoopConf conf, String rootUri, int c, int perClass)
            throws IOException {
        Path root = new Path(rootUri);
        FileSystem fs = root.getFileSystem(conf.get());
        List<BufferedImage> images = new ArrayList<>();
        for (int i = 0; i < Math.min(perClass, SampleLayout.GRID_MAX); i++) {
            try (InputStream in = fs.open(new Path(root, SampleLayout.imagePath(c, i)))) {
                BufferedImage img = ImageIO.read(in);
                if (img == null) {
                    throw new IOException("cannot read " + SampleLayout.imagePath(c, i));
                }
                images.add(img);
            }
        }
        try (OutputStream s = HadoopDir.createFile(fs, new Path(root, SampleLayout.gridPath(c)))) {
            dev.rq.report.ImageGrid.writePng(tile(images), s);
        }
        return SampleLayout.gridPath(c);
    }

    /** The layout of {@link dev.rq.report.ImageGrid#grid(float[], int, int, int, int)}: ⌈√n⌉ columns, 2 px white. */
    static BufferedImage tile(List<BufferedImage> images) {
        int n = images.size();
        int cols = (int) Math.ceil(Math.sqrt(n));
        int rows = (n + cols - 1) / cols;
        int w = images.get(0).getWidth();
        int h = images.get(0).getHeight();
        int pad = 2;
        BufferedImage grid = new BufferedImage(cols * w + (cols + 1) * pad, rows * h + (rows + 1) * pad,
                BufferedImage.TYPE_INT_RGB);
        Graphics2D g = grid.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, grid.getWidth(), grid.getHeight());
            for (int i = 0; i < n; i++) {
                g.drawImage(images.get(i), pad + (i % cols) * (w + pad), pad + (i / cols) * (h + pad), null);
            }
        } finally {
            g.dispose();
        }
        return grid;
    }

    private static void writeIndex(HadoopDir out, Plan p, Options o, SamplingConfig s, List<String> grids,
            TokenManifest.Job job) throws IOException {
        Map<String, Object> kv = new LinkedHashMap<>();
        kv.put("RQ-Transformer", p.transformerDir().uri() + " (step " + p.transformer().manifest().step()
                + ", model SHA-256 " + p.transformerSha() + ")");
        kv.put("RQ-VAE", p.vaeDir().uri() + " (model SHA-256 " + p.vaeSha() + ")");
        kv.put("classes", p.classes());
        kv.put("per class", o.perClass());
        kv.put("temperature", s.temperature());
        kv.put("top-k", s.topK() == null ? "none" : s.topK());
        kv.put("top-p", s.topP() == null ? "1.0 (none)" : s.topP());
        kv.put("guidance scale", s.guided() ? s.cfgScale() : "1 (none)");
        kv.put("seed", o.seed());
        kv.put("batch size", s.batchSize());
        kv.put("job", String.format(Locale.ROOT, "%s, %d tasks, %d threads per model call: %.1f s, %.2f img/s",
                job.master(), job.tasks(), job.intraOpThreads(), job.seconds(), job.imagesPerSecond()));
        kv.put("codes", SampleLayout.CODES_DIR + "/ (token table, schema v" + TokenTableSchema.SCHEMA_VERSION + ")");
        HtmlReport report = HtmlReport.titled("rq sample").keyValues(kv);
        for (int j = 0; j < grids.size(); j++) {
            int c = p.classes().get(j);
            report.heading("class " + c).image(grids.get(j), "class " + c + ": samples 0.."
                    + (Math.min(o.perClass(), SampleLayout.GRID_MAX) - 1) + " (" + SampleLayout.IMAGES_DIR + "/"
                    + SampleLayout.classDir(c) + "/<i>.png)");
        }
        try (OutputStream s2 = out.create(SampleLayout.INDEX)) {
            report.write(s2);
        }
    }

}
