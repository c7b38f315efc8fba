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
        String auto = autoPrecision(sets, sets2, System.getProperty("spark.master"), Precision.cpuHasBf16());
        if (auto != null) { // neither --precision nor a train.precision override: the CPU decides
            sets.add(auto);
            sets2.add(auto);
            System.out.println("precision: " + auto.substring(auto.indexOf('=') + 1) + " (auto: bf16 on a local master"
                    + " whose CPU has bfloat16 units, fp32 elsewhere; --precision fp32|bf16 chooses)");
        }
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
            String autoSteps;
            if (stage2MaxSteps != null) {
                sets2.add("train.max_steps=" + stage2MaxSteps);
            } else if ((autoSteps = fp32AutoStage2Steps(auto, sets2)) != null) {
                sets2.add(autoSteps);
                System.out.println("stage 2: " + FP32_AUTO_STAGE2_STEPS + " steps (auto: the default's bf16 schedule would take"
                        + " far over 7 minutes in fp32 on 2 cores; --stage2-max-steps chooses)");
            }
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
     * The quickstart's precision when none is asked for: {@code train.precision=bf16} for both stages on a
     * local master (none set, or {@code local[...]}) whose CPU has bfloat16 units (the quickstart's training
     * steps cost about 2.1x (stage 1) and 2.3x (stage 2) less there, docs/quickstart.md), {@code fp32} elsewhere
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

    /** Stage-2 steps when the automatic precision fell back to fp32 (the pre-bf16 default's 800). */
    static final int FP32_AUTO_STAGE2_STEPS = 800;

    /**
     * The stage-2 step override when the quickstart chose fp32 by itself: the default schedule (1,850
     * steps since session 15, 1,400 before; sized for the 7-minute budget in bf16) would take far longer in fp32
     * on 2 cores (1,400 steps: about 15 minutes in all, projected from the step-cost ratios, docs/quickstart.md
     * "Session 9"), so an automatic fp32 run trains {@link #FP32_AUTO_STAGE2_STEPS} steps (about 12 minutes with
     * session 14's 1,100-step stage 1; less with today's 800).
     *
     * @param auto what {@link #autoPrecision} returned (null: the user chose the precision)
     * @param sets2 the stage-2 overrides so far
     * @return {@code train.max_steps=800}, or null when the precision was chosen, is bf16, or a
     *         {@code train.max_steps} override of stage 2 exists
     */
    static String fp32AutoStage2Steps(String auto, List<String> sets2) {
        boolean autoFp32 = auto != null && auto.endsWith("=" + Precision.FP32.id());
        boolean stepsChosen = sets2.stream().anyMatch(s -> s.startsWith("train.max_steps="));
        return autoFp32 && !stepsChosen ? "train.max_steps=" + FP32_AUTO_STAGE2_STEPS : null;
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
