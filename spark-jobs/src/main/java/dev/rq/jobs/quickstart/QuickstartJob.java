package dev.rq.jobs.quickstart;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.dataset.DatasetInfo;
import dev.rq.data.image.ImageDecodeException;
import dev.rq.io.HadoopDir;
import dev.rq.jobs.decode.DecodeJob;
import dev.rq.jobs.sample.SampleJob;
import dev.rq.jobs.tokenize.TokenizeJob;
import dev.rq.jobs.tokenize.Views;
import dev.rq.jobs.train.RunDirectory;
import dev.rq.jobs.train.TrainVaeJob;
import dev.rq.jobs.train.TrainingJob;
import dev.rq.jobs.train.TrainingStage;
import dev.rq.jobs.train.TransformerStage;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.config.Configs;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.report.ImageGrid;
import dev.rq.report.LineChart;
import dev.rq.tables.TokenManifest;
import dev.rq.tables.TokenRow;
import dev.rq.tables.TokenTable;
import dev.rq.tables.TokenTableSchema;
import dev.rq.tables.Variant;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

/**
 * {@code rq quickstart}: the whole pipeline (stage 1 and, optionally, stage 2) on one SparkSession,
 * into one output folder.
 *
 * <ol>
 *   <li><b>ingest</b>: open every split of the dataset ({@link CanonicalDataset}; sidecar, shards
 *       and row counts checked) and print the images per split and class;
 *   <li><b>train</b>: {@link TrainVaeJob} with {@code workers} ranks into {@code <out>/train}
 *       (resumes from its last checkpoint; a finished run is not trained again);
 *   <li><b>tokenize</b>: {@link TokenizeJob} of every split with the final checkpoint into {@code
 *       <out>/tokens} (skipped when that table was made by the same checkpoint from the same data;
 *       otherwise replaced atomically);
 *   <li><b>decode</b>: {@link DecodeJob} of the evaluation split's center-crop rows into {@code
 *       <out>/decode}, then the PSNR of every reconstruction against its original (the same
 *       evaluation transform the tokenizer used) and an originals-vs-reconstructions grid in {@code
 *       <out>/eval} (skipped when {@code eval/eval.json} matches the table and checkpoint);
 *   <li><b>train-transformer</b> (stage 2, when {@link Options#stage2()} is set): {@link TrainingJob}
 *       of a {@link TransformerStage} on the first split of the token table with the final RQ-VAE
 *       checkpoint, held-out bits per code on the evaluation split at every checkpoint, into {@code
 *       <out>/stage2} (resumes and skips like the train stage);
 *   <li><b>sample</b> (stage 2): {@link SampleJob} of every dataset class with the final stage-2
 *       checkpoint into {@code <out>/samples} (skipped when it was made by the same checkpoints and
 *       settings);
 *   <li><b>report</b>: code usage per depth from the evaluation split of the table (Spark
 *       aggregation), row counts per split, the stage-2 curves and sample overview, and {@code
 *       <out>/report.html}.
 * </ol>
 *
 * Stage outcomes and wall times are kept in {@code <out>/quickstart.json}.
 */
public final class QuickstartJob {

    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Sub-folders and files of the output folder. */
    public static final String TRAIN = "train";
    public static final String TOKENS = "tokens";
    public static final String DECODE = "decode";
    public static final String EVAL = "eval";
    public static final String REPORT = "report.html";
    public static final String STAGE2 = "stage2";
    public static final String SAMPLES = "samples";

    /** Image pairs shown in the report's reconstruction grid (at most). */
    static final int SHOWN_PAIRS = 48;
    static final int GRID_COLUMNS = 8;
    /** Samples per class shown in the report's overview ({@code eval/samples.png}). */
    static final int SAMPLE_COLUMNS = 8;
    static final String SAMPLE_OVERVIEW = "samples.png";
    static final String STAGE2_CURVES = "stage2-bits.png";
    static final String STAGE2_DEPTHS = "stage2-heldout-depths.png";
    static final String HELD_OUT = "heldout.jsonl";
    /** Images per model call when tokenizing (fewer, larger calls: the quickstart models are small). */
    static final int TOKENIZE_BATCH = 64;

    /**
     * Stage-2 options.
     *
     * @param config stage-2 run config; {@code vae.checkpoint} is set to the stage-1 final
     *     checkpoint by the quickstart (a value in the file is replaced)
     * @param configSource where the config came from (file and overrides), for the report
     * @param perClass samples per class of the sample stage
     * @param seed sampling seed
     */
    public record Stage2(TransformerRunConfig config, String configSource, int perClass, long seed) {
        public Stage2 {
            Objects.requireNonNull(config, "stage-2 config");
            if (perClass < 1) {
                throw new IllegalArgumentException("samples per class must be >= 1, got " + perClass);
            }
        }

        /**
         * Checks, before any work, that the stage-2 config fits the stage-1 config and {@code
         * workers} ranks; throws {@link ConfigException} naming the key.
         */
        public void check(RqVaeRunConfig vae, int workers) {
            config.model().checkCompatible(vae.model());
            TrainingStage.checkBatch(config.train(), workers);
        }
    }

    /**
     * Options.
     *
     * @param config resolved run config
     * @param configSource where the config came from (file and overrides), for the report
     * @param data dataset root URI (a folder of split folders, e.g. {@code data/emoji})
     * @param splits splits to check and tokenize; the first one is trained on
     * @param evalSplit split decoded and measured (must be in {@code splits}); stage 2's held-out split
     * @param out output folder URI
     * @param workers training ranks (the session should have at least this many task slots)
     * @param decodeLimit evaluation rows to decode; 0 = the whole split
     * @param collectiveTimeout training: a silent peer fails the stage after this long
     * @param stage2 stage-2 options, or null to stop after stage 1
     */
    public record Options(RqVaeRunConfig config, String configSource, String data, List<String> splits,
            String evalSplit, String out, int workers, int decodeLimit, Duration collectiveTimeout, Stage2 stage2) {
        public Options {
            Objects.requireNonNull(config, "config");
            Objects.requireNonNull(data, "data");
            Objects.requireNonNull(out, "out");
            splits = List.copyOf(splits);
            if (splits.isEmpty()) {
                throw new IllegalArgumentException("no splits given");
            }
            if (!splits.contains(evalSplit)) {
                throw new IllegalArgumentException("evaluation split '" + evalSplit + "' is not among " + splits);
            }
            if (decodeLimit < 0) {
                throw new IllegalArgumentException("decode limit must be >= 0, got " + decodeLimit);
            }
            if (collectiveTimeout == null) {
                collectiveTimeout = Duration.ofSeconds(120);
            }
        }

        /** The emoji defaults: train on {@code train}, evaluate on {@code validation}; stage 1 only. */
        public static Options emoji(RqVaeRunConfig config, String configSource, String data, String out, int workers) {
            return new Options(config, configSource, data, List.of("train", "validation"), "validation", out, workers,
                    0, Duration.ofSeconds(120), null);
        }

        /** @return these options with stage 2 ({@code null}: without) */
        public Options withStage2(Stage2 s) {
            return new Options(config, configSource, data, splits, evalSplit, out, workers, decodeLimit,
                    collectiveTimeout, s);
        }
    }

    /**
     * Stage-2 outcome.
     *
     * @param steps optimizer steps of the final stage-2 checkpoint
     * @param finalCheckpoint its URI
     * @param heldOutStep step of the last held-out evaluation (-1: none)
     * @param heldOutBitsPerCode held-out bits per code per depth at that step (empty: none)
     * @param samplesUri the sample output folder
     * @param grids per-class grid files, relative to {@code samplesUri}
     */
    public record Stage2Result(long steps, String finalCheckpoint, long heldOutStep, double[] heldOutBitsPerCode,
            String samplesUri, List<String> grids) {
        /** @return held-out bits per code averaged over depths (NaN: none) */
        public double heldOutMeanBitsPerCode() {
            return java.util.Arrays.stream(heldOutBitsPerCode).average().orElse(Double.NaN);
        }
    }

    /**
     * Outcome.
     *
     * @param out the output folder
     * @param reportUri {@code <out>/report.html}
     * @param psnr PSNR summary of the evaluation split (dB)
     * @param trainSteps optimizer steps of the final checkpoint
     * @param finalCheckpoint its URI
     * @param tokensUri the token table
     * @param rowsPerSplit rows of the table per split (counted)
     * @param stages stage outcomes of this invocation
     * @param seconds total wall time of this invocation
     * @param stage2 stage-2 outcome, or null when stage 2 was not run
     */
    public record Result(String out, String reportUri, ReconstructionStats.Summary psnr, long trainSteps,
            String finalCheckpoint, String tokensUri, Map<String, Long> rowsPerSplit, List<StageTimer.Stage> stages,
            double seconds, Stage2Result stage2) {}

    /** A stage failed; the message names the stage and what to do. */
    public static final class StageException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        private final String stage;

        StageException(String stage, String message, Throwable cause) {
            super(message, cause);
            this.stage = stage;
        }

        /** @return the stage that failed */
        public String stage() {
            return stage;
        }
    }

    private QuickstartJob() {}

    /** Runs every stage on {@code spark}; progress lines go to {@code console}. */
    public static Result run(SparkSession spark, Options o, PrintStream console) throws IOException {
        return new Runner(spark, o, console).run();
    }

    /** Per-invocation state. */
    private static final class Runner {
        private final SparkSession spark;
        private final Options o;
        private final PrintStream console;
        private final Configuration conf;
        private final HadoopDir out;
        private final String trainUri;
        private final String tokensUri;
        private final String decodeUri;
        private final HadoopDir evalDir;
        private final String stage2Uri;
        private final String samplesUri;
        private StageTimer timer;

        // results handed from stage to stage
        private final Map<String, CanonicalDataset> datasets = new LinkedHashMap<>();
        private TrainVaeJob.Result trained;
        private String modelSha;
        private TokenManifest manifest;
        private JsonNode eval;
        private TrainingJob.Result trained2;
        private String stage2Sha;
        private Stage2Result stage2Result;

        Runner(SparkSession spark, Options o, PrintStream console) throws IOException {
            this.spark = spark;
            this.o = o;
            this.console = console;
            this.conf = spark.sparkContext().hadoopConfiguration();
            Path root = new Path(o.out());
            FileSystem fs = root.getFileSystem(conf);
            root = fs.makeQualified(root);
            this.out = new HadoopDir(root, conf);
            this.trainUri = new Path(root, TRAIN).toString();
            this.tokensUri = new Path(root, TOKENS).toString();
            this.decodeUri = new Path(root, DECODE).toString();
            this.evalDir = out.child(EVAL);
            this.stage2Uri = new Path(root, STAGE2).toString();
            this.samplesUri = new Path(root, SAMPLES).toString();
        }

        Result run() throws IOException {
            long t0 = System.nanoTime();
            fsMkdirs(out);
            timer = StageTimer.open(out);
            console.printf("rq quickstart -> %s (%d workers, Spark %s)%n", out.uri(), o.workers(),
                    spark.sparkContext().master());
            stage("ingest", this::ingest);
            stage("train", this::train);
            stage("tokenize", this::tokenize);
            stage("decode", this::decode);
            if (o.stage2() != null) {
                stage("train-transformer", this::trainTransformer);
                stage("sample", this::sample);
            }
            Map<String, Long> rows = new LinkedHashMap<>();
            ReconstructionStats.Summary[] psnr = new ReconstructionStats.Summary[1];
            stage("report", () -> {
                Object[] r = report(rows, t0);
                psnr[0] = (ReconstructionStats.Summary) r[0];
                return (String) r[1];
            });
            double seconds = (System.nanoTime() - t0) / 1e9;
            String reportUri = new Path(out.path(), REPORT).toString();
            String bits = "";
            if (stage2Result != null && stage2Result.heldOutBitsPerCode().length > 0) {
                bits = String.format(Locale.ROOT, "; stage 2: %.2f bits/code on %s (per depth %s; uniform %.2f)",
                        stage2Result.heldOutMeanBitsPerCode(), o.evalSplit(),
                        bitsList(stage2Result.heldOutBitsPerCode()), log2(manifest.codebookSize()));
            }
            console.printf(Locale.ROOT, "quickstart done in %s: PSNR %.2f dB on %d %s images%s%n", minutes(seconds),
                    psnr[0].mean(), psnr[0].n(), o.evalSplit(), bits);
            console.printf("report: %s%n", reportUri);
            return new Result(out.uri(), reportUri, psnr[0], trained.steps(), trained.finalCheckpoint(), tokensUri, rows,
                    timer.stages(), seconds, stage2Result);
        }

        private static void fsMkdirs(HadoopDir d) throws IOException {
            d.fileSystem().mkdirs(d.path());
        }

        /** A stage body; returns {@code "ran|note"}, {@code "skipped|note"} or {@code "resumed|note"}. */
        private interface Body {
            String run() throws Exception;
        }

        private void stage(String name, Body body) throws IOException {
            console.printf("== %s%n", name);
            long t = System.nanoTime();
            String outcome;
            try {
                outcome = body.run();
            } catch (Exception e) {
                double s = (System.nanoTime() - t) / 1e9;
                String msg = e.getMessage() == null ? e.toString() : e.getMessage();
                timer.record(name, "failed", s, msg);
                throw new StageException(name, "quickstart stage '" + name + "' failed after " + minutes(s) + ": "
                        + msg + (name.equals("ingest") ? "" : "\nRerun the same command to resume: finished stages"
                        + " are skipped and training continues from its last checkpoint."), e);
            }
            double s = (System.nanoTime() - t) / 1e9;
            int bar = outcome.indexOf('|');
            String status = outcome.substring(0, bar);
            String note = outcome.substring(bar + 1);
            timer.record(name, status, s, note);
            console.printf(Locale.ROOT, "   %s %s in %s: %s%n", name, status, minutes(s), note);
        }

        // ---------------------------------------------------------------- ingest check

        private String ingest() throws IOException {
            long images = 0;
            for (String split : o.splits()) {
                String uri = new Path(o.data(), split).toString();
                CanonicalDataset ds;
                try {
                    ds = CanonicalDataset.open(uri, conf);
                } catch (FileNotFoundException e) {
                    throw new FileNotFoundException("dataset split '" + split + "' is missing or incomplete at " + uri
                            + " (" + e.getMessage() + "). The emoji dataset is committed under data/emoji: run from the"
                            + " repository root, pass --data, or restore it with `git checkout -- data/emoji`.");
                }
                if (ds.numRows() == 0) {
                    throw new IOException("dataset split " + uri + " has no images");
                }
                datasets.put(split, ds);
                images += ds.numRows();
            }
            List<String> names = datasets.values().iterator().next().classNames();
            for (var e : datasets.entrySet()) {
                if (!e.getValue().classNames().equals(names)) {
                    throw new IOException("splits disagree on class names: " + o.splits().get(0) + " " + names + " vs "
                            + e.getKey() + " " + e.getValue().classNames());
                }
            }
            console.print(countsTable());
            if (o.stage2() != null) {
                int cond = o.stage2().config().model().vocabSizeCond();
                if (cond < names.size()) {
                    throw new ConfigException("model.vocab_size_cond", "the stage-2 config conditions on " + cond
                            + " classes, but the dataset has " + names.size() + " " + names);
                }
            }
            return "ran|" + images + " images in " + datasets.size() + " splits, " + names.size() + " classes";
        }

        /** Images per class (rows) and split (columns), as aligned text. */
        private String countsTable() {
            StringBuilder sb = new StringBuilder();
            List<String> names = classNames();
            sb.append(String.format(Locale.ROOT, "   %-18s", "class"));
            datasets.keySet().forEach(s -> sb.append(String.format(Locale.ROOT, " %10s", s)));
            sb.append('\n');
            for (List<Object> row : countRows(names)) {
                sb.append(String.format(Locale.ROOT, "   %-18s", row.get(0)));
                for (int i = 1; i < row.size(); i++) {
                    sb.append(String.format(Locale.ROOT, " %10s", row.get(i)));
                }
                sb.append('\n');
            }
            return sb.toString();
        }

        private List<String> classNames() {
            return datasets.values().iterator().next().classNames();
        }

        /** Rows: label id + name, count per split; last row the totals. */
        private List<List<Object>> countRows(List<String> names) {
            TreeMap<Long, String> labels = new TreeMap<>();
            for (int i = 0; i < names.size(); i++) {
                labels.put((long) i, i + " " + names.get(i));
            }
            for (CanonicalDataset ds : datasets.values()) {
                Map<String, Long> c = ds.info().countsPerLabel();
                if (c != null) {
                    c.keySet().forEach(k -> labels.putIfAbsent(Long.parseLong(k), k.equals("-1") ? "-1 (unknown)" : k));
                }
            }
            List<List<Object>> rows = new ArrayList<>();
            for (var l : labels.entrySet()) {
                List<Object> r = new ArrayList<>();
                r.add(l.getValue());
                for (CanonicalDataset ds : datasets.values()) {
                    Map<String, Long> c = ds.info().countsPerLabel();
                    r.add(c == null ? 0L : c.getOrDefault(Long.toString(l.getKey()), 0L));
                }
                rows.add(r);
            }
            List<Object> total = new ArrayList<>();
            total.add("total");
            datasets.values().forEach(ds -> total.add(ds.numRows()));
            rows.add(total);
            return rows;
        }

        // ---------------------------------------------------------------- train

        private String train() throws IOException {
            String split = o.splits().get(0);
            RunDirectory run = new RunDirectory(trainUri, conf);
            List<Long> before = run.fs().exists(run.path("run.json")) ? run.committedSteps() : List.of();
            TrainVaeJob.Options t = new TrainVaeJob.Options(o.config(), datasets.get(split).splitDir().toString(),
                    trainUri, o.workers(), o.collectiveTimeout(), 2, null);
            trained = TrainVaeJob.run(spark, t);
            modelSha = Checkpoints.read(new HadoopDir(trained.finalCheckpoint(), conf)).manifest().files()
                    .get(Checkpoints.MODEL).sha256();
            long max = o.config().train().maxSteps();
            if (trained.submissions() == 0) {
                return "skipped|already trained to step " + trained.steps() + " (" + trained.finalCheckpoint() + ")";
            }
            String note = trained.steps() + " steps on " + split + " with " + o.workers() + " ranks (global batch "
                    + o.config().train().batchSize() + ")" + lastMetrics();
            if (!before.isEmpty()) {
                return "resumed|from step " + before.get(before.size() - 1) + " of " + max + ": " + note;
            }
            return "ran|" + note;
        }

        private String lastMetrics() {
            JsonNode m = lastMetricsLine();
            if (m == null) {
                return "";
            }
            return String.format(Locale.ROOT, "; last logged loss %.5f (recon %.5f)", m.path("loss").asDouble(),
                    m.path("recon_loss").asDouble());
        }

        private JsonNode lastMetricsLine() {
            try {
                List<String> lines = new RunDirectory(trainUri, conf).readLines("metrics.jsonl");
                return lines.isEmpty() ? null : JSON.readTree(lines.get(lines.size() - 1));
            } catch (IOException e) {
                return null;
            }
        }

        // ---------------------------------------------------------------- tokenize

        private String tokenize() throws IOException {
            String dataRoot = qualify(o.data());
            boolean latents = needsLatents();
            try {
                TokenManifest m = TokenManifest.read(tokensUri, conf);
                boolean same = modelSha.equals(m.tokenizer().checkpointSha256())
                        && (!latents || m.hasLatents())
                        && m.splits().keySet().equals(new java.util.HashSet<>(o.splits()))
                        && m.source() != null && dataRoot.equals(m.source().uri());
                for (var e : datasets.entrySet()) {
                    TokenManifest.SplitCounts c = m.splits().get(e.getKey());
                    same &= c != null && c.images() == e.getValue().numRows();
                }
                if (same) {
                    manifest = m;
                    return "skipped|" + tokensUri + " was already made by this checkpoint (created "
                            + m.createdAt() + ")";
                }
                console.println("   existing token table is from another checkpoint or dataset, or lacks the latents"
                        + " stage 2 needs: replacing it");
            } catch (FileNotFoundException e) {
                // no table yet
            }
            TokenizeJob.Options t = new TokenizeJob.Options(trained.finalCheckpoint(), o.data(), tokensUri,
                    List.of(Variant.CENTER), TOKENIZE_BATCH, o.splits(), latents, 0, 0);
            TokenizeJob.Result r = TokenizeJob.run(spark, t);
            manifest = r.manifest();
            console.print(r.summary());
            long rows = manifest.splits().values().stream().mapToLong(TokenManifest.SplitCounts::rows).sum();
            return String.format(Locale.ROOT, "ran|%d rows%s, %.1f img/s", rows, latents ? " with latents" : "",
                    manifest.job().imagesPerSecond());
        }

        /** Stage 2 with soft targets computes them from the pre-quantization latents, stored in the table. */
        private boolean needsLatents() {
            return o.stage2() != null && o.stage2().config().loss().soft();
        }

        private String qualify(String uri) throws IOException {
            Path p = new Path(uri);
            return p.getFileSystem(conf).makeQualified(p).toString();
        }

        // ---------------------------------------------------------------- decode + PSNR

        private String decode() throws Exception {
            long available = manifest.splits().get(o.evalSplit()).rows(); // one variant per image
            int limit = (int) (o.decodeLimit() > 0 ? Math.min(o.decodeLimit(), available) : available);
            if (evalDir.exists("eval.json")) {
                try (InputStream in = evalDir.open("eval.json")) {
                    JsonNode e = JSON.readTree(in);
                    if (e.path("table_created_at").asText().equals(manifest.createdAt())
                            && e.path("checkpoint_sha256").asText().equals(modelSha)
                            && e.path("rows").asInt() == limit) {
                        eval = e;
                        return String.format(Locale.ROOT, "skipped|already decoded %d rows of this table: PSNR %.2f dB",
                                limit, e.path("psnr").path("mean").asDouble());
                    }
                } catch (IOException ignored) {
                    // decode again
                }
            }
            DecodeJob.Result d = DecodeJob.run(spark, new DecodeJob.Options(trained.finalCheckpoint(), tokensUri,
                    decodeUri, limit, o.evalSplit(), Variant.CENTER.id, false, 0));
            int res = d.resolution();
            int len = 3 * res * res;
            float[] originals = originals(d.rows(), res);
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
            writeComparison(originals, d.images(), Math.min(n, SHOWN_PAIRS), res);

            ObjectNode e = JSON.createObjectNode();
            e.put("split", o.evalSplit());
            e.put("rows", n);
            e.put("resolution", res);
            e.put("table_created_at", manifest.createdAt());
            e.put("checkpoint_sha256", modelSha);
            e.put("checkpoint", trained.finalCheckpoint());
            e.put("definition", "PSNR = 10 log10(1 / MSE) over C*H*W samples, original (evaluation transform of the"
                    + " source image) and reconstruction (decoded from the table's codes, clamped) both mapped from"
                    + " [-1, 1] to [0, 1]; summary over images");
            e.set("psnr", summaryJson(s));
            ObjectNode pc = e.putObject("psnr_per_class");
            perClass.forEach((k, v) -> pc.set(k, summaryJson(ReconstructionStats.Summary.of(
                    v.stream().mapToDouble(Double::doubleValue).toArray()))));
            ArrayNode per = e.putArray("per_image");
            for (int i = 0; i < n; i++) {
                TokenRow r = d.rows().get(i);
                ObjectNode one = per.addObject();
                one.put("id", r.getId());
                one.put("label", r.getLabel());
                one.put("psnr", Math.round(psnr[i] * 1000) / 1000.0);
            }
            try (OutputStream os = evalDir.create("eval.json")) { // last: marks the stage done
                os.write(JSON.writeValueAsBytes(e));
            }
            eval = e;
            return String.format(Locale.ROOT, "ran|decoded %d %s rows; PSNR mean %.2f dB (median %.2f, min %.2f, max %.2f)",
                    n, o.evalSplit(), s.mean(), s.median(), s.min(), s.max());
        }

        /** The model inputs (center view) of the decoded rows' source images, NCHW in [−1, 1]. */
        private float[] originals(List<TokenRow> rows, int res) throws IOException, ImageDecodeException {
            CanonicalDataset ds = datasets.get(o.evalSplit());
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

        /** {@code eval/comparison.png}: per group of {@link #GRID_COLUMNS}, a row of originals above their reconstructions. */
        private void writeComparison(float[] originals, float[] recon, int n, int res) throws IOException {
            int len = 3 * res * res;
            int groups = (n + GRID_COLUMNS - 1) / GRID_COLUMNS;
            int cells = groups * 2 * GRID_COLUMNS;
            float[] grid = new float[cells * len];
            java.util.Arrays.fill(grid, 1f); // empty cells are white
            for (int i = 0; i < n; i++) {
                int g = i / GRID_COLUMNS;
                int c = i % GRID_COLUMNS;
                System.arraycopy(originals, i * len, grid, ((2 * g) * GRID_COLUMNS + c) * len, len);
                System.arraycopy(recon, i * len, grid, ((2 * g + 1) * GRID_COLUMNS + c) * len, len);
            }
            BufferedImage img = ImageGrid.grid(grid, cells, 3, res, res, GRID_COLUMNS, 2, 0xFFFFFF);
            int scale = Math.max(1, 128 / res);
            try (OutputStream os = evalDir.create("comparison.png")) {
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
            ObjectNode n = JSON.createObjectNode();
            n.put("n", s.n());
            n.put("mean", Math.round(s.mean() * 1000) / 1000.0);
            n.put("median", Math.round(s.median() * 1000) / 1000.0);
            n.put("min", Math.round(s.min() * 1000) / 1000.0);
            n.put("max", Math.round(s.max() * 1000) / 1000.0);
            return n;
        }

        // ---------------------------------------------------------------- stage 2: train-transformer

        /** The stage-2 config with {@code vae.checkpoint} = the stage-1 final checkpoint. */
        private TransformerRunConfig stage2Config() {
            ObjectNode tree = (ObjectNode) Configs.toTree(o.stage2().config()).deepCopy();
            JsonNode vae = tree.get("vae");
            ObjectNode v = vae instanceof ObjectNode on ? on : tree.putObject("vae");
            v.put("checkpoint", trained.finalCheckpoint());
            return TransformerRunConfig.bind(tree);
        }

        private String trainTransformer() throws IOException {
            TransformerRunConfig c = stage2Config();
            String split = o.splits().get(0);
            RunDirectory run = new RunDirectory(stage2Uri, conf);
            List<Long> before = run.fs().exists(run.path("run.json")) ? run.committedSteps() : List.of();
            trained2 = finishedElsewhere(run, c);
            if (trained2 == null) {
                TransformerStage st = new TransformerStage(c, tokensUri, split, o.evalSplit());
                trained2 = TrainingJob.run(spark, st, new TrainingJob.Options(stage2Uri, o.workers(),
                        o.collectiveTimeout(), 2, null));
            }
            stage2Sha = Checkpoints.read(new HadoopDir(trained2.finalCheckpoint(), conf)).manifest().files()
                    .get(Checkpoints.MODEL).sha256();
            String held = "";
            JsonNode h = lastLine(stage2Uri, HELD_OUT);
            if (h != null) {
                held = String.format(Locale.ROOT, "; held-out bits/code at step %d: %.3f (per depth %s)",
                        h.path("step").asLong(), mean(doubles(h.path("bits_per_code"))),
                        bitsList(doubles(h.path("bits_per_code"))));
            }
            if (trained2.submissions() == 0) {
                return "skipped|already trained to step " + trained2.steps() + " (" + trained2.finalCheckpoint() + ")"
                        + held;
            }
            String note = trained2.steps() + " steps on " + split + " (" + c.loss().type() + ") with " + o.workers()
                    + " ranks (global batch " + c.train().batchSize() + ")" + held;
            if (!before.isEmpty()) {
                return "resumed|from step " + before.get(before.size() - 1) + " of " + c.train().maxSteps() + ": "
                        + note;
            }
            return "ran|" + note;
        }

        /**
         * A finished stage-2 run of an output folder that was moved: its config names the stage-1
         * checkpoint at the old place ({@code <old out>/train/checkpoints/step-N}) and is otherwise
         * equal to this one. Such a run is not trained again (the training job would refuse it as a
         * different configuration); an unfinished one is left to the training job, which refuses it.
         *
         * @return the finished run, or null
         */
        private TrainingJob.Result finishedElsewhere(RunDirectory run, TransformerRunConfig c) throws IOException {
            if (!run.fs().exists(run.path("run.json"))) {
                return null;
            }
            JsonNode existing;
            try (InputStream in = run.fs().open(run.path("run.json"))) {
                existing = JSON.readTree(in);
            }
            JsonNode old = existing.path("config").deepCopy();
            String oldVae = old.path("vae").path("checkpoint").asText("");
            String tail = "/" + TRAIN + "/" + new Path(trained.finalCheckpoint()).getParent().getName() + "/"
                    + new Path(trained.finalCheckpoint()).getName();
            if (!(old.path("vae") instanceof ObjectNode ov) || oldVae.equals(trained.finalCheckpoint())
                    || !oldVae.endsWith(tail)) {
                return null;
            }
            ov.put("checkpoint", trained.finalCheckpoint());
            String oldCanonical;
            try {
                oldCanonical = Configs.toCanonicalJson(TransformerRunConfig.bind(old));
            } catch (RuntimeException e) {
                return null;
            }
            List<Long> steps = run.committedSteps();
            if (!oldCanonical.equals(Configs.toCanonicalJson(c)) || steps.isEmpty()
                    || steps.get(steps.size() - 1) < c.train().maxSteps()) {
                return null;
            }
            long last = steps.get(steps.size() - 1);
            console.println("   the stage-2 run was trained when this folder was at " + oldVae.substring(0,
                    oldVae.length() - tail.length()) + "; it is complete and is used as it is");
            return new TrainingJob.Result(stage2Uri, run.checkpoint(last).uri(), last, null, 0);
        }

        /** @return the last JSON line of a run file, or null */
        private JsonNode lastLine(String runUri, String file) {
            try {
                List<String> lines = new RunDirectory(runUri, conf).readLines(file);
                return lines.isEmpty() ? null : JSON.readTree(lines.get(lines.size() - 1));
            } catch (IOException e) {
                return null;
            }
        }

        /** @return every JSON line of a run file (empty if none) */
        private List<JsonNode> lines(String runUri, String file) throws IOException {
            List<JsonNode> out = new ArrayList<>();
            for (String l : new RunDirectory(runUri, conf).readLines(file)) {
                out.add(JSON.readTree(l));
            }
            return out;
        }

        // ---------------------------------------------------------------- stage 2: sample

        private String sample() throws IOException {
            Stage2 s2 = o.stage2();
            List<Integer> classes = new ArrayList<>();
            for (int c = 0; c < classNames().size(); c++) {
                classes.add(c);
            }
            String classList = String.join(",", classes.stream().map(String::valueOf).toList());
            List<String> grids = classes.stream().map(c -> SampleJob.GRIDS_DIR + "/" + SampleJob.classDir(c) + ".png")
                    .toList();
            JsonNode done = samplesManifest();
            if (done != null && stage2Sha.equals(done.path("generator").path("checkpoint_sha256").asText())
                    && modelSha.equals(done.path("tokenizer").path("checkpoint_sha256").asText())
                    && done.path("sampling").path("seed").asLong() == s2.seed()
                    && done.path("sampling").path("per_class").asInt() == s2.perClass()
                    && classes.equals(ints(done.path("sampling").path("classes")))
                    && sameSampling(done.path("sampling"), s2.config().sampling())) {
                writeSampleOverview(classes, s2.perClass());
                stage2Result = stage2Result(grids);
                return "skipped|" + samplesUri + " was already sampled from this checkpoint (" + classes.size()
                        + " classes x " + s2.perClass() + ", seed " + s2.seed() + ")";
            }
            // one libtorch thread per task on a local master: the tasks run side by side on its cores
            int threads = spark.sparkContext().isLocal() ? 1 : 0;
            SampleJob.Result r = SampleJob.run(spark, new SampleJob.Options(trained2.finalCheckpoint(),
                    trained.finalCheckpoint(), classList, s2.perClass(), samplesUri, null, null, null, s2.seed(), null,
                    threads));
            console.print(r.summary());
            writeSampleOverview(classes, s2.perClass());
            stage2Result = stage2Result(grids);
            var sm = r.sampling();
            return String.format(Locale.ROOT, "ran|%d images (%d classes x %d, seed %d; temperature %s, top-k %s,"
                    + " top-p %s), %.2f img/s", classes.size() * s2.perClass(), classes.size(), s2.perClass(),
                    s2.seed(), sm.temperature(), sm.topK() == null ? "none" : sm.topK(),
                    sm.topP() == null ? "none" : sm.topP(), r.manifest().job().imagesPerSecond());
        }

        /** @return whether a sample manifest's settings are the config's (temperature, top-k, top-p) */
        private static boolean sameSampling(JsonNode done, dev.rq.model.config.SamplingConfig want) {
            return done.path("temperature").asDouble() == want.temperature()
                    && done.path("top_k").equals(want.topK() == null ? JSON.nullNode() : JSON.valueToTree(want.topK()))
                    && done.path("top_p").equals(want.topP() == null ? JSON.nullNode() : JSON.valueToTree(want.topP()));
        }

        /** @return the manifest JSON of an existing sample output, or null */
        private JsonNode samplesManifest() {
            try {
                HadoopDir codes = new HadoopDir(new Path(samplesUri, SampleJob.CODES_DIR), conf);
                if (!codes.exists(TokenTableSchema.MANIFEST_FILE)) {
                    return null;
                }
                try (InputStream in = codes.open(TokenTableSchema.MANIFEST_FILE)) {
                    return JSON.readTree(in);
                }
            } catch (IOException e) {
                return null;
            }
        }

        private Stage2Result stage2Result(List<String> grids) {
            JsonNode h = lastLine(stage2Uri, HELD_OUT);
            return new Stage2Result(trained2.steps(), trained2.finalCheckpoint(),
                    h == null ? -1 : h.path("step").asLong(),
                    h == null ? new double[0] : doubles(h.path("bits_per_code")), samplesUri, grids);
        }

        /**
         * {@code eval/samples.png}: one row per class (its name on the left) of its first {@link
         * #SAMPLE_COLUMNS} samples, read from {@code samples/images/class-<c>/<i>.png}.
         */
        private void writeSampleOverview(List<Integer> classes, int perClass) throws IOException {
            List<List<BufferedImage>> rows = new ArrayList<>();
            Path images = new Path(samplesUri, SampleJob.IMAGES_DIR);
            for (int c : classes) {
                List<BufferedImage> row = new ArrayList<>();
                HadoopDir dir = new HadoopDir(new Path(images, SampleJob.classDir(c)), conf);
                for (int i = 0; i < Math.min(perClass, SAMPLE_COLUMNS); i++) {
                    try (InputStream in = dir.open(i + ".png")) {
                        BufferedImage img = javax.imageio.ImageIO.read(in);
                        if (img == null) {
                            throw new IOException("cannot read sample " + SampleJob.sampleId(c, i) + ".png");
                        }
                        row.add(img);
                    }
                }
                rows.add(row);
            }
            List<String> names = classNames();
            List<String> labels = classes.stream().map(c -> c + " " + (c < names.size() ? names.get(c) : "")).toList();
            try (OutputStream os = evalDir.create(SAMPLE_OVERVIEW)) {
                ImageGrid.writePng(labelledRows(rows, labels), os);
            }
        }

        // ---------------------------------------------------------------- report

        private Object[] report(Map<String, Long> rows, long t0) throws IOException {
            TokenTable table = TokenTable.read(spark, tokensUri);
            table.verifyCounts();
            for (var r : table.rows().groupBy(TokenTableSchema.SPLIT).count().collectAsList()) {
                rows.put(r.get(0).toString(), r.getLong(1));
            }
            CodeUsage usage = CodeUsage.of(table, o.evalSplit(), Variant.CENTER.id);
            LineChart chart = LineChart.of("code usage per depth (" + o.evalSplit() + ", codes sorted by frequency)",
                    "code rank", "occurrences").logY(true);
            for (int d = 0; d < usage.depth(); d++) {
                chart.add(String.format(Locale.ROOT, "depth %d (ppl %.1f, %d used)", d, usage.perplexity(d),
                        usage.used(d)), usage.sortedDescending(d));
            }
            try (OutputStream os = evalDir.create("code-usage.png")) {
                os.write(chart.png());
            }
            ObjectNode u = JSON.createObjectNode();
            ArrayNode ppl = u.putArray("perplexity");
            ArrayNode used = u.putArray("used");
            for (int d = 0; d < usage.depth(); d++) {
                ppl.add(Math.round(usage.perplexity(d) * 100) / 100.0);
                used.add(usage.used(d));
            }
            timer.put("code_usage_" + o.evalSplit(), u);
            timer.put("psnr_" + o.evalSplit(), eval.path("psnr"));

            ReconstructionStats.Summary psnr = new ReconstructionStats.Summary(eval.path("psnr").path("n").asInt(),
                    eval.path("psnr").path("mean").asDouble(), eval.path("psnr").path("median").asDouble(),
                    eval.path("psnr").path("min").asDouble(), eval.path("psnr").path("max").asDouble());
            QuickstartReport.Stage2 s2 = null;
            if (stage2Result != null) {
                s2 = stage2Report(usage);
            }
            QuickstartReport report = new QuickstartReport(o, out.uri(), trained, lastMetricsLine(), manifest, rows,
                    countRows(classNames()), new ArrayList<>(datasets.keySet()), usage, eval, psnr, s2);
            List<StageTimer.Stage> stages = new ArrayList<>(timer.stages());
            double sofar = (System.nanoTime() - t0) / 1e9;
            try (OutputStream os = out.create(REPORT)) {
                report.html(stages, sofar, timer.lastWorkSeconds("report")).write(os);
            }
            StringBuilder note = new StringBuilder(String.format(Locale.ROOT, "%s; code usage perplexity per depth",
                    new Path(out.path(), REPORT)));
            for (int d = 0; d < usage.depth(); d++) {
                note.append(String.format(Locale.ROOT, " %.1f", usage.perplexity(d)));
            }
            return new Object[] {psnr, "ran|" + note};
        }
        /**
         * The stage-2 curves ({@code eval/stage2-bits.png}, {@code eval/stage2-heldout-depths.png}) from
         * the run's {@code metrics.jsonl} and {@code heldout.jsonl}, and the stage-2 summary in {@code
         * quickstart.json}.
         */
        private QuickstartReport.Stage2 stage2Report(CodeUsage usage) throws IOException {
            List<JsonNode> metrics = lines(stage2Uri, "metrics.jsonl");
            List<JsonNode> held = lines(stage2Uri, HELD_OUT);
            int depth = manifest.codeShape().get(2);
            double ln2 = Math.log(2);
            double[] steps = new double[metrics.size()];
            double[] lossBits = new double[metrics.size()];
            double[] trainBits = new double[metrics.size()];
            for (int i = 0; i < metrics.size(); i++) {
                JsonNode m = metrics.get(i);
                steps[i] = m.path("step").asDouble();
                lossBits[i] = m.path("loss").asDouble() / ln2;
                trainBits[i] = m.path("bits_per_code").asDouble();
            }
            double[] hSteps = new double[held.size()];
            double[] hMean = new double[held.size()];
            double[][] hDepth = new double[depth][held.size()];
            for (int i = 0; i < held.size(); i++) {
                hSteps[i] = held.get(i).path("step").asDouble();
                double[] b = doubles(held.get(i).path("bits_per_code"));
                hMean[i] = mean(b);
                for (int d = 0; d < depth && d < b.length; d++) {
                    hDepth[d][i] = b[d];
                }
            }
            LineChart curves = LineChart.of("stage 2: bits per code (mean over the " + depth + " depths)", "step",
                    "bits per code");
            if (o.stage2().config().loss().soft()) { // with hard targets the loss / ln 2 is the bits/code below
                curves.add("training loss (soft-target cross-entropy) / ln 2", steps, lossBits);
            }
            curves.add("training: bits/code of the input codes (logged steps)", steps, trainBits)
                    .add("held-out (" + o.evalSplit() + "): bits/code (checkpoints)", hSteps, hMean);
            writeChart(curves, STAGE2_CURVES, "held-out");
            LineChart depths = LineChart.of("stage 2: held-out bits per code per depth (" + o.evalSplit() + ")",
                    "step", "bits per code");
            for (int d = 0; d < depth; d++) {
                depths.add("depth " + d, hSteps, hDepth[d]);
            }
            writeChart(depths, STAGE2_DEPTHS, "depth");

            ObjectNode n = JSON.createObjectNode();
            n.put("steps", stage2Result.steps());
            n.put("final_checkpoint", stage2Result.finalCheckpoint());
            n.put("held_out_split", o.evalSplit());
            n.put("held_out_step", stage2Result.heldOutStep());
            ArrayNode bits = n.putArray("held_out_bits_per_code");
            for (double b : stage2Result.heldOutBitsPerCode()) {
                bits.add(Math.round(b * 1000) / 1000.0);
            }
            n.put("held_out_mean_bits_per_code", Math.round(stage2Result.heldOutMeanBitsPerCode() * 1000) / 1000.0);
            n.put("uniform_bits_per_code", Math.round(log2(manifest.codebookSize()) * 1000) / 1000.0);
            n.put("samples", stage2Result.samplesUri());
            n.put("samples_per_class", o.stage2().perClass());
            n.put("sample_seed", o.stage2().seed());
            timer.put("stage2", n);
            return new QuickstartReport.Stage2(o.stage2(), stage2Result, metrics.isEmpty() ? null
                    : metrics.get(metrics.size() - 1), held.isEmpty() ? null : held.get(held.size() - 1), usage);
        }

        /** Writes a chart into {@code eval/}; series whose name starts with {@code marked} get point markers. */
        private void writeChart(LineChart chart, String file, String marked) throws IOException {
            org.knowm.xchart.XYChart x = chart.toXChart();
            x.getSeriesMap().forEach((name, series) -> {
                if (name.startsWith(marked)) {
                    series.setMarker(org.knowm.xchart.style.markers.SeriesMarkers.CIRCLE);
                }
            });
            x.getStyler().setMarkerSize(6);
            try (OutputStream os = evalDir.create(file)) {
                os.write(org.knowm.xchart.BitmapEncoder.getBitmapBytes(x, org.knowm.xchart.BitmapEncoder.BitmapFormat.PNG));
            }
        }
    }

    /** @return {@code 1m05s} or {@code 4.2 s} */
    static String minutes(double seconds) {
        if (seconds < 60) {
            return String.format(Locale.ROOT, "%.1f s", seconds);
        }
        long s = Math.round(seconds);
        return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
    }

    /** @return the config as pretty JSON (for the report) */
    static String configJson(Object config) {
        try {
            return JSON.writeValueAsString(Configs.toTree(config));
        } catch (IOException e) {
            return Configs.toCanonicalJson(config);
        }
    }

    /** @return the images of each row side by side, rows stacked, each row's label on its left, scaled to ≥ 64 px */
    static BufferedImage labelledRows(List<List<BufferedImage>> rows, List<String> labels) {
        int cell = 0;
        int cols = 0;
        for (List<BufferedImage> r : rows) {
            cols = Math.max(cols, r.size());
            for (BufferedImage b : r) {
                cell = Math.max(cell, Math.max(b.getWidth(), b.getHeight()));
            }
        }
        int f = Math.max(1, 64 / Math.max(cell, 1));
        int size = cell * f;
        int pad = 2;
        int labelWidth = 150;
        int w = labelWidth + cols * (size + pad) + pad;
        int h = rows.size() * (size + pad) + pad;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setColor(java.awt.Color.WHITE);
            g.fillRect(0, 0, w, h);
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_NEAREST_NEIGHBOR);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.PLAIN, 12));
            for (int r = 0; r < rows.size(); r++) {
                int y = pad + r * (size + pad);
                g.setColor(java.awt.Color.BLACK);
                g.drawString(labels.get(r), 4, y + size / 2 + 5);
                for (int c = 0; c < rows.get(r).size(); c++) {
                    g.drawImage(rows.get(r).get(c), labelWidth + pad + c * (size + pad), y, size, size, null);
                }
            }
        } finally {
            g.dispose();
        }
        return img;
    }

    static double[] doubles(JsonNode array) {
        double[] d = new double[array.size()];
        for (int i = 0; i < d.length; i++) {
            d[i] = array.get(i).asDouble();
        }
        return d;
    }

    static List<Integer> ints(JsonNode array) {
        List<Integer> out = new ArrayList<>();
        array.forEach(v -> out.add(v.asInt()));
        return out;
    }

    static double mean(double[] v) {
        return java.util.Arrays.stream(v).average().orElse(Double.NaN);
    }

    static double log2(double v) {
        return Math.log(v) / Math.log(2);
    }

    /** @return {@code 5.12 / 6.01 / …} */
    static String bitsList(double[] v) {
        List<String> p = new ArrayList<>();
        for (double x : v) {
            p.add(String.format(Locale.ROOT, "%.2f", x));
        }
        return String.join(" / ", p);
    }
}
