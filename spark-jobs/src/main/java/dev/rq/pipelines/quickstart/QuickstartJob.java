package dev.rq.pipelines.quickstart;

import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.jobs.decode.DecodeJob;
import dev.rq.jobs.sample.SampleJob;
import dev.rq.jobs.tokenize.TokenizeJob;
import dev.rq.jobs.train.TrainingJob;
import dev.rq.jobs.train.TransformerStage;
import dev.rq.jobs.train.VaeStage;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.tables.TokenManifest;
import java.io.IOException;
import java.io.PrintStream;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

/**
 * {@code rq quickstart}: the whole pipeline (stage 1 and, optionally, stage 2) on one SparkSession,
 * into one output folder.
 *
 * <ol>
 *   <li><b>ingest</b>: open every split of the dataset ({@link CanonicalDataset}; sidecar, shards
 *       and row counts checked) and print the images per split and class;
 *   <li><b>train</b>: {@link TrainingJob} of a {@link VaeStage} with {@code workers} ranks into {@code <out>/train}
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
 *       settings), then the sample overview {@code <out>/eval/samples.png};
 *   <li><b>report</b>: code usage per depth from the evaluation split of the table (Spark
 *       aggregation), row counts per split, the stage-2 curves, and {@code <out>/report.html}.
 * </ol>
 *
 * Stage outcomes and wall times are kept in {@code <out>/quickstart.json}.
 *
 * <p>This class holds the public API and the stage sequence ({@link #run}); the stages live in
 * {@link Stage1Stages} (ingest, train, tokenize), {@link DecodeStage}, {@link Stage2Stages}
 * (train-transformer, sample) and {@link ReportStage} (with {@link QuickstartReport}). Each returns
 * an {@link Outcome}: how it ended (ran, resumed, skipped), a note, and its typed result ({@link
 * Splits}, {@link Trained}, the {@link TokenManifest}, {@link Evaluation}, {@link Stage2Result}),
 * which {@link #run} passes to the stages that need it. They share only the fixed {@link
 * StageContext}: the session, options, output folders, console and {@link StageTimer}.
 */
public final class QuickstartJob {

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
    /**
     * Images per model call when tokenizing: 8, not 64 — a batch of 64 64x64 images at 16x16 latents holds
     * activations far beyond the CPU caches; batch 8 encoded 2.7x faster (docs/quickstart-history.md, session 6).
     */
    static final int TOKENIZE_BATCH = 8;

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
            config.train().checkWorkers(workers);
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
     * @param driverRetries training: resubmissions of a stage after Spark gives up
     * @param stage2 stage-2 options, or null to stop after stage 1
     */
    public record Options(RqVaeRunConfig config, String configSource, String data, List<String> splits,
            String evalSplit, String out, int workers, int decodeLimit, Duration collectiveTimeout, int driverRetries,
            Stage2 stage2) {
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
            if (driverRetries < 0) {
                throw new IllegalArgumentException("driver retries must be >= 0, got " + driverRetries);
            }
            if (collectiveTimeout == null) {
                collectiveTimeout = Duration.ofSeconds(120);
            }
        }

        /** The emoji defaults: train on {@code train}, evaluate on {@code validation}; stage 1 only. */
        public static Options emoji(RqVaeRunConfig config, String configSource, String data, String out, int workers) {
            return new Options(config, configSource, data, List.of("train", "validation"), "validation", out, workers,
                    0, Duration.ofSeconds(120), 2, null);
        }

        /** @return these options with stage 2 ({@code null}: without) */
        public Options withStage2(Stage2 s) {
            return new Options(config, configSource, data, splits, evalSplit, out, workers, decodeLimit,
                    collectiveTimeout, driverRetries, s);
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

    /**
     * Runs every stage on {@code spark}; progress lines go to {@code console}. Each stage hands its
     * typed result to the stages after it.
     */
    public static Result run(SparkSession spark, Options o, PrintStream console) throws IOException {
        long t0 = System.nanoTime();
        StageContext c = StageContext.open(spark, o, console);
        console.printf("rq quickstart -> %s (%d workers, Spark %s)%n", c.out.uri(), o.workers(),
                spark.sparkContext().master());
        Stage1Stages stage1 = new Stage1Stages(c);
        Splits splits = stage(c, "ingest", stage1::ingest);
        Trained vae = stage(c, "train", () -> stage1.train(splits));
        TokenManifest tokens = stage(c, "tokenize", () -> stage1.tokenize(splits, vae));
        Evaluation eval = stage(c, "decode", () -> new DecodeStage(c).decode(splits, vae, tokens));
        Stage2Result s2 = null;
        if (o.stage2() != null) {
            Stage2Stages stage2 = new Stage2Stages(c);
            Trained transformer = stage(c, "train-transformer", () -> stage2.trainTransformer(vae));
            s2 = stage(c, "sample", () -> stage2.sample(splits, vae, transformer));
        }
        ReportStage.Inputs shown = new ReportStage.Inputs(splits, vae, tokens, eval, s2);
        Map<String, Long> rows = stage(c, "report", () -> new ReportStage(c).report(shown, t0));
        double seconds = (System.nanoTime() - t0) / 1e9;
        String reportUri = new Path(c.out.path(), REPORT).toString();
        String bits = "";
        if (s2 != null && s2.heldOutBitsPerCode().length > 0) {
            bits = String.format(Locale.ROOT, "; stage 2: %.2f bits/code on %s (per depth %s; uniform %.2f)",
                    s2.heldOutMeanBitsPerCode(), o.evalSplit(), new BitsPerCode(s2.heldOutBitsPerCode()).perDepthText(),
                    BitsPerCode.uniform(tokens.codebookSize()));
        }
        String precision = o.config().train().computePrecision().id();
        if (o.stage2() != null && o.stage2().config().train().computePrecision() != o.config().train().computePrecision()) {
            precision += " / " + o.stage2().config().train().computePrecision().id();
        }
        console.printf(Locale.ROOT, "quickstart done in %s (%s): PSNR %.2f dB on %d %s images%s%n",
                StageTimer.duration(seconds), precision, eval.psnr().mean(), eval.psnr().n(), o.evalSplit(), bits);
        console.printf("report: %s%n", reportUri);
        return new Result(c.out.uri(), reportUri, eval.psnr(), vae.steps(), vae.finalCheckpoint(), c.tokensUri,
                rows, c.timer.stages(), seconds, s2);
    }

    /** A stage body: its work, and what it hands on. */
    private interface Body<T> {
        Outcome<T> run() throws Exception;
    }

    /**
     * Runs one stage: prints its name, times it, records the outcome in {@code quickstart.json} and
     * prints it; a failure is recorded and rethrown as a {@link StageException} saying how to resume.
     *
     * @return the stage's result
     */
    private static <T> T stage(StageContext c, String name, Body<T> body) throws IOException {
        c.console.printf("== %s%n", name);
        long t = System.nanoTime();
        Outcome<T> outcome;
        try {
            outcome = body.run();
        } catch (Exception e) {
            double s = (System.nanoTime() - t) / 1e9;
            String msg = e.getMessage() == null ? e.toString() : e.getMessage();
            c.timer.record(name, Outcome.Status.FAILED, s, msg);
            throw new StageException(name, "stage '" + name + "' failed after " + StageTimer.duration(s) + ": "
                    + msg + (name.equals("ingest") ? "" : "; rerun the same command to resume: finished stages"
                    + " are skipped and training continues from its last checkpoint."), e);
        }
        double s = (System.nanoTime() - t) / 1e9;
        c.timer.record(name, outcome.status(), s, outcome.note());
        c.console.printf(Locale.ROOT, "   %s %s in %s: %s%n", name, outcome.status().label(), StageTimer.duration(s),
                outcome.note());
        return outcome.result();
    }
}
