package dev.rq.cli;

import dev.rq.jobs.SparkSessions;
import dev.rq.pipelines.quickstart.QuickstartJob;
import dev.rq.jobs.train.VaeStage;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.engine.Precision;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code rq quickstart}: ingest check, RQ-VAE training, tokenize, decode, RQ-Transformer training,
 * sampling and a run report on the emoji dataset.
 */
@Command(name = "quickstart", mixinStandardHelpOptions = true,
        header = "Run the whole pipeline (both stages) on the emoji dataset.",
        description = {"Run the whole pipeline on the embedded emoji dataset on local Spark: ingest check,",
            "RQ-VAE training (data-parallel), tokenize train + validation, decode validation, then stage 2:",
            "RQ-Transformer training on the train tokens (held-out bits/code on validation) and samples",
            "of every class; and <out>/report.html (loss curves, reconstructions, PSNR, codebook usage,",
            "token manifest, stage-2 curves, bits/code, sample grids, stage timings). Rerunning into the",
            "same --out skips finished stages and resumes training. See docs/quickstart.md."})
public final class QuickstartCommand implements Callable<Integer> {

    @Option(names = "--out", defaultValue = "runs/quickstart", description = "Output folder (default ${DEFAULT-VALUE})")
    String out;

    @Option(names = "--conf", defaultValue = "conf/rqvae/quickstart.yaml",
            description = "Run config YAML (default ${DEFAULT-VALUE})")
    Path conf;

    @Option(names = "--data", defaultValue = "data/emoji",
            description = "Dataset root with train/ and validation/ split folders (default ${DEFAULT-VALUE})")
    String data;

    @Option(names = "--decode-limit", defaultValue = "0",
            description = "Validation rows to decode and measure (default: all)")
    int decodeLimit;

    @Option(names = "--no-stage2", description = "Stop after stage 1 (no RQ-Transformer, no samples)")
    boolean noStage2;

    @Option(names = "--stage2-conf", defaultValue = "conf/rqtransformer/quickstart.yaml",
            description = "Stage-2 config YAML (default ${DEFAULT-VALUE}); vae.checkpoint is set to the stage-1 result")
    Path stage2Conf;

    @Option(names = "--stage2-max-steps", description = "Override train.max_steps of the stage-2 config")
    Integer stage2MaxSteps;

    @Option(names = "--stage2-set", description = "Stage-2 config override key=value (repeatable)")
    List<String> stage2Overrides = new ArrayList<>();

    @Option(names = "--samples-per-class", defaultValue = "8",
            description = "Stage-2 samples per class (default ${DEFAULT-VALUE})")
    int samplesPerClass;

    @Option(names = "--sample-seed", defaultValue = "0", description = "Sampling seed (default ${DEFAULT-VALUE})")
    long sampleSeed;

    @Mixin
    TrainingFlags training = new TrainingFlags(2);

    @Override
    public Integer call() throws Exception {
        if (training.faultInjection != null) {
            throw new IllegalArgumentException("--fault-injection is for train-vae, train-transformer and train-sid");
        }
        List<String> sets = training.overrides();
        List<String> sets2 = training.precision.overrides(stage2Overrides); // --precision: both stages
        if (stage2MaxSteps != null) {
            sets2.add("train.max_steps=" + stage2MaxSteps);
        }
        autoSettings(sets, sets2, noStage2, System.getProperty("spark.master"), Precision.cpuHasBf16())
                .forEach(System.out::println);
        String dataRoot = data.contains(":") ? data : resolve(Path.of(data)).toString();
        Path confFile = resolve(conf);
        RqVaeRunConfig config;
        int workers;
        try {
            workers = training.workers();
            config = Configs.loadRqVae(confFile, sets); // fails before Spark starts
            new VaeStage(config, dataRoot).check(workers);
        } catch (ConfigException | java.io.IOException e) {
            throw new IllegalArgumentException("config " + confFile + ": " + e.getMessage(), e);
        }
        String outUri = out.contains(":") ? out : Path.of(out).toAbsolutePath().normalize().toString();
        String source = confFile + (sets.isEmpty() ? "" : " " + String.join(" ", sets.stream().map(s -> "--set " + s)
                .toList()));
        QuickstartJob.Stage2 stage2 = null;
        if (!noStage2) {
            Path conf2 = resolve(stage2Conf);
            try {
                TransformerRunConfig c2 = TransformerRunConfig.load(conf2, sets2); // fails before Spark starts
                stage2 = new QuickstartJob.Stage2(c2, conf2 + (sets2.isEmpty() ? "" : " " + String.join(" ",
                        sets2.stream().map(s -> "--stage2-set " + s).toList())), samplesPerClass, sampleSeed);
                stage2.check(config, workers);
            } catch (ConfigException | IllegalArgumentException | java.io.IOException e) {
                throw new IllegalArgumentException("stage-2 config " + conf2 + ": " + e.getMessage(), e);
            }
        }
        QuickstartJob.Options o = new QuickstartJob.Options(config, source, dataRoot, List.of("train", "validation"),
                "validation", outUri, workers, decodeLimit, training.collectiveTimeout, training.driverRetries, stage2);
        SparkSession spark = SparkSessions.getOrCreate("quickstart", workers);
        try {
            PrecisionOption.checkBeforeWork(config.train().computePrecision(), spark);
            if (stage2 != null) {
                PrecisionOption.checkBeforeWork(stage2.config().train().computePrecision(), spark);
            }
            QuickstartJob.run(spark, o, System.out);
            return 0; // a failed stage throws a StageException: exit code and message as RqCli reports them
        } finally {
            spark.stop();
        }
    }

    /**
     * What the quickstart decides by itself when the user did not: the precision ({@link #autoPrecision}) and, when
     * that fell back to fp32, each stage's fp32 schedule ({@link #fp32AutoSteps}). Adds the overrides to
     * {@code sets} (stage 1) and {@code sets2} (stage 2).
     *
     * @return the lines to print, one per decision
     */
    static List<String> autoSettings(List<String> sets, List<String> sets2, boolean noStage2, String master,
            boolean cpuHasBf16) {
        String auto = autoPrecision(sets, sets2, master, cpuHasBf16);
        if (auto == null) { // --precision or a train.precision override chose
            return List.of();
        }
        sets.add(auto);
        sets2.add(auto);
        List<String> lines = new ArrayList<>(List.of("precision: " + auto.substring(auto.indexOf('=') + 1)
                + " (auto: bf16 on a local master whose CPU has bfloat16 units, fp32 elsewhere; --precision fp32|bf16"
                + " chooses)"));
        String steps1 = fp32AutoSteps(auto, sets, FP32_AUTO_STAGE1_STEPS);
        String steps2 = noStage2 ? null : fp32AutoSteps(auto, sets2, FP32_AUTO_STAGE2_STEPS);
        if (steps1 != null) {
            sets.add(steps1);
        }
        if (steps2 != null) {
            sets2.add(steps2);
        }
        if (steps1 != null || steps2 != null) {
            lines.add("fp32 schedule (auto, to stay near 7 minutes on 2 cores):"
                    + (steps1 == null ? "" : " stage 1 " + FP32_AUTO_STAGE1_STEPS + " steps")
                    + (steps2 == null ? "" : " stage 2 " + FP32_AUTO_STAGE2_STEPS + " steps")
                    + "; its samples are weaker than bf16's (docs/quickstart.md \"Without bfloat16 units\";"
                    + " --max-steps and --stage2-max-steps choose)");
        }
        return lines;
    }

    /**
     * The quickstart's precision when none is asked for: {@code train.precision=bf16} for both stages on a
     * local master (none set, or {@code local[...]}) whose CPU has bfloat16 units (the quickstart's training
     * steps cost about 2.1x (stage 1) and 2.3x (stage 2) less there, docs/quickstart-history.md "Session 8"), {@code fp32} elsewhere
     * (a cluster's executors may lack them).
     *
     * @return the override to add to both stages, or null when {@code --precision} or a
     *         {@code train.precision} override of either stage chose already
     */
    static String autoPrecision(List<String> sets, List<String> sets2, String master, boolean cpuHasBf16) {
        if (java.util.stream.Stream.concat(sets.stream(), sets2.stream()).anyMatch(s -> s.startsWith("train.precision="))) {
            return null;
        }
        boolean local = master == null || master.startsWith("local");
        return "train.precision=" + (local && cpuHasBf16 ? Precision.BF16 : Precision.FP32).id();
    }

    /** Stage-1 steps when the automatic precision fell back to fp32 (the bf16 default: 800; "Without bfloat16 units"). */
    static final int FP32_AUTO_STAGE1_STEPS = 1_000;

    /** Stage-2 steps when the automatic precision fell back to fp32 (the bf16 default: 1,850). */
    static final int FP32_AUTO_STAGE2_STEPS = 900;

    /**
     * A stage's step override when the quickstart chose fp32 by itself. The defaults are sized for the 7-minute
     * budget in bf16; in fp32 on 2 cores (measured idle, session 16, docs/quickstart.md "Without bfloat16 units")
     * a stage-1 step costs about 1.2x and a stage-2 step about 1.6x its bf16 cost, and 800 stage-1 steps end below
     * 23 dB (22.75). So an automatic fp32 run trains {@link #FP32_AUTO_STAGE1_STEPS} stage-1 steps (23.67 dB) and
     * the {@link #FP32_AUTO_STAGE2_STEPS} stage-2 steps that the rest of the budget buys.
     *
     * @param auto what {@link #autoPrecision} returned (null: the user chose the precision)
     * @param sets the stage's overrides so far
     * @param steps the stage's fp32 steps
     * @return {@code train.max_steps=<steps>}, or null when the precision was chosen, is bf16, or the stage has a
     *         {@code train.max_steps} override ({@code --max-steps}, {@code --stage2-max-steps}, {@code --set},
     *         {@code --stage2-set})
     */
    static String fp32AutoSteps(String auto, List<String> sets, int steps) {
        boolean autoFp32 = auto != null && auto.endsWith("=" + Precision.FP32.id());
        boolean stepsChosen = sets.stream().anyMatch(s -> s.startsWith("train.max_steps="));
        return autoFp32 && !stepsChosen ? "train.max_steps=" + steps : null;
    }

    /** A relative path that does not exist here is looked up below the rq home ({@code -Drq.home}, set by bin/rq). */
    static Path resolve(Path p) {
        if (p.isAbsolute() || Files.exists(p)) {
            return p.toAbsolutePath().normalize();
        }
        String home = System.getProperty("rq.home");
        if (home != null && Files.exists(Path.of(home).resolve(p))) {
            return Path.of(home).resolve(p).toAbsolutePath().normalize();
        }
        return p.toAbsolutePath().normalize();
    }
}
