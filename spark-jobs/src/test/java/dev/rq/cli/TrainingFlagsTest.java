package dev.rq.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The training flags are one mixin ({@link TrainingFlags}) with the same names, meaning and
 * defaults in every training command (parsing only: no command runs); what the commands do with
 * bad values is in {@link RqCliErrorsTest}.
 */
class TrainingFlagsTest {

    static final Set<String> FLAGS = Set.of("--workers", "--max-steps", "--checkpoint-every", "--seed", "--init",
            "--set", "--collective-timeout", "--driver-retries", "--fault-injection", "--precision");

    @Test
    void everyTrainingCommandHasTheSameFlags() {
        for (Object cmd : List.of(new TrainVaeCommand(), new TrainTransformerCommand(), new TrainSidCommand(),
                new QuickstartCommand(), new SidQuickstartCommand())) {
            Set<String> names = new TreeSet<>();
            new CommandLine(cmd).getCommandSpec().options().forEach(o -> names.addAll(List.of(o.names())));
            assertThat(names).as(cmd.getClass().getSimpleName()).containsAll(FLAGS);
        }
    }

    @Test
    void shortcutsBecomeOverridesAfterSetAndTheDefaultsAreTheCommands() {
        TrainVaeCommand vae = new TrainVaeCommand();
        new CommandLine(vae).parseArgs("--conf", "c.yaml", "--data", "d", "--out", "o", "--seed", "7",
                "--set", "train.lr=0.1", "--max-steps", "5", "--init", "ck", "--checkpoint-every", "2",
                "--precision", "BF16");
        assertThat(vae.training.overrides()).containsExactly("train.lr=0.1", "train.precision=bf16",
                "train.max_steps=5", "train.checkpoint_every=2", "train.seed=7", "train.init=ck");
        assertThat(vae.training.workers()).isEqualTo(1);
        assertThat(vae.training.collectiveTimeout).isEqualTo(Duration.ofSeconds(120));
        assertThat(vae.training.driverRetries).isEqualTo(2);

        QuickstartCommand quick = new QuickstartCommand();
        CommandLine q = new CommandLine(quick);
        q.parseArgs();
        assertThat(quick.training.workers()).as("quickstart trains on 2 local ranks by default").isEqualTo(2);
        assertThat(quick.training.overrides()).isEmpty();
        assertThat(q.getCommandSpec().findOption("--workers").defaultValueString()).as("--help shows it").isEqualTo("2");
        q.parseArgs("--workers", "4");
        assertThat(quick.training.workers()).isEqualTo(4);

        SidQuickstartCommand sid = new SidQuickstartCommand();
        new CommandLine(sid).parseArgs("--max-steps", "9");
        assertThat(sid.training.workers()).as("sid-quickstart trains on 2 local ranks by default").isEqualTo(2);
        assertThat(sid.training.overrides()).containsExactly("train.max_steps=9");
    }

    @Test
    void quickstartPrecisionAppliesToBothStages() {
        QuickstartCommand quick = new QuickstartCommand();
        new CommandLine(quick).setCaseInsensitiveEnumValuesAllowed(true).parseArgs("--precision", "bf16",
                "--stage2-set", "train.lr=0.1");
        assertThat(quick.training.overrides()).containsExactly("train.precision=bf16");
        assertThat(quick.training.precision.overrides(quick.stage2Overrides)).containsExactly("train.lr=0.1",
                "train.precision=bf16");
    }

    @Test
    void quickstartPicksBf16OnlyForALocalBf16CpuWhenNothingChose() {
        List<String> none = List.of();
        assertThat(QuickstartCommand.autoPrecision(none, none, null, true)).isEqualTo("train.precision=bf16");
        assertThat(QuickstartCommand.autoPrecision(none, none, "local[2,4]", true)).isEqualTo("train.precision=bf16");
        assertThat(QuickstartCommand.autoPrecision(none, none, null, false)).as("no bfloat16 units")
                .isEqualTo("train.precision=fp32");
        assertThat(QuickstartCommand.autoPrecision(none, none, "yarn", true)).as("executors' CPUs unknown")
                .isEqualTo("train.precision=fp32");
        assertThat(QuickstartCommand.autoPrecision(List.of("train.precision=fp32"), none, null, true))
                .as("--precision or --set chose").isNull();
        assertThat(QuickstartCommand.autoPrecision(none, List.of("train.lr=0.1", "train.precision=fp32"), null, true))
                .as("--stage2-set chose").isNull();
    }

    @Test
    void anAutomaticFp32QuickstartTrainsItsOwnScheduleUnlessStepsWereChosen() {
        List<String> none = List.of();
        assertThat(QuickstartCommand.fp32AutoSteps("train.precision=fp32", none, QuickstartCommand.FP32_AUTO_STAGE1_STEPS))
                .isEqualTo("train.max_steps=1000");
        assertThat(QuickstartCommand.fp32AutoSteps("train.precision=fp32", none, QuickstartCommand.FP32_AUTO_STAGE2_STEPS))
                .isEqualTo("train.max_steps=900");
        assertThat(QuickstartCommand.fp32AutoSteps("train.precision=bf16", none, 950)).as("bf16: the default").isNull();
        assertThat(QuickstartCommand.fp32AutoSteps(null, none, 950)).as("the user chose fp32").isNull();
        assertThat(QuickstartCommand.fp32AutoSteps("train.precision=fp32", List.of("train.max_steps=50"), 950))
                .as("--max-steps, --stage2-max-steps or a train.max_steps override chose").isNull();
    }

    @Test
    void withoutBfloat16UnitsTheQuickstartPicksFp32AndItsScheduleForBothStagesAndSaysSo() {
        java.util.ArrayList<String> s1 = new java.util.ArrayList<>(), s2 = new java.util.ArrayList<>();
        List<String> lines = QuickstartCommand.autoSettings(s1, s2, false, null, false);
        assertThat(s1).containsExactly("train.precision=fp32", "train.max_steps=1000");
        assertThat(s2).containsExactly("train.precision=fp32", "train.max_steps=900");
        assertThat(lines).hasSize(2);
        assertThat(lines.get(1)).contains("stage 1 1000 steps", "stage 2 900 steps", "--stage2-max-steps");

        s1 = new java.util.ArrayList<>(List.of("train.max_steps=300"));
        s2 = new java.util.ArrayList<>();
        QuickstartCommand.autoSettings(s1, s2, true, "local[2]", false);
        assertThat(s1).as("--max-steps kept; --no-stage2").containsExactly("train.max_steps=300", "train.precision=fp32");
        assertThat(s2).containsExactly("train.precision=fp32");

        s1 = new java.util.ArrayList<>();
        s2 = new java.util.ArrayList<>();
        assertThat(QuickstartCommand.autoSettings(s1, s2, false, null, true)).hasSize(1);
        assertThat(s1).as("bf16 units: the configs' own schedule").containsExactly("train.precision=bf16");
        assertThat(s2).containsExactly("train.precision=bf16");
    }
}
