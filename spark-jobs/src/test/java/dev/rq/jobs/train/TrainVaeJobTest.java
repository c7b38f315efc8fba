package dev.rq.jobs.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rq.jobs.SparkSessions;
import dev.rq.model.config.ConfigException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.util.SyntheticImages;
import dev.rq.model.vae.RqVae;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The data-parallel trainer on a real local[2] Spark session (Kryo with registration required):
 * N-equivalence, recovery from an injected rank failure and from a hung peer, resume and config
 * checks. The uninterrupted N=2 run is the reference for bit-identity.
 */
class TrainVaeJobTest {

    static SparkSession spark;
    @TempDir static Path tmp;
    static Path reference;
    static TrainingJob.Result referenceResult;

    @BeforeAll
    static void start() throws Exception {
        spark = SparkSessions.getOrCreate("test", 2);
        reference = tmp.resolve("reference");
        referenceResult = TrainRuns.train(spark, TrainRuns.config(), reference, 2, null,
                Duration.ofSeconds(60));
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    @Test
    void referenceRunWritesCheckpointsMetricsAndRunJson() throws Exception {
        assertThat(referenceResult.steps()).isEqualTo(TrainRuns.STEPS);
        assertThat(referenceResult.submissions()).isEqualTo(1);
        assertThat(reference.resolve("run.json")).exists();
        assertThat(reference.resolve("checkpoints/step-00000003/manifest.json")).exists();
        assertThat(reference.resolve("checkpoints/step-00000006/manifest.json")).exists();
        List<String> metrics = TrainRuns.metrics(reference);
        assertThat(metrics).hasSize(TrainRuns.STEPS);
        assertThat(metrics.get(0)).contains("\"step\":1").contains("\"perplexity\"").contains("\"dead_fraction\"");
        for (String png : List.of("plots/loss.png", "plots/codebook.png", "plots/recon-step-00000003.png",
                "plots/recon-step-00000006.png")) {
            java.awt.image.BufferedImage img = javax.imageio.ImageIO.read(reference.resolve(png).toFile());
            assertThat(img).as(png).isNotNull();
            assertThat(img.getWidth()).as(png).isGreaterThan(100);
        }
        RunReportTest.assertFinishedReport(reference, "rqvae", TrainRuns.STEPS);
    }

    @Test
    void stageOneOptionsKeepTwoRanksEqualToOneRank() throws Exception {
        // the green-magenta loss term (per micro-batch) and the restart threshold (on all-reduced counts): N=2 ranks
        // of 4 images give N=1's bits after 5 steps, restarts included (every count starts at 0)
        String[] opts = {"train.max_steps=5", "model.hparams.green_magenta_loss_weight=1",
                "model.hparams.restart_threshold=0.05"};
        Path one = tmp.resolve("opt-n1");
        Path two = tmp.resolve("opt-n2");
        TrainRuns.train(spark, TrainRuns.config(opts), one, 1, null, Duration.ofSeconds(60));
        TrainRuns.train(spark, TrainRuns.config(opts), two, 2, null, Duration.ofSeconds(60));
        var w1 = TrainRuns.weightsAt(one, 5);
        var w2 = TrainRuns.weightsAt(two, 5);
        Path off = tmp.resolve("opt-off");
        TrainRuns.train(spark, TrainRuns.config("train.max_steps=5"), off, 1, null, Duration.ofSeconds(60));
        var plain = TrainRuns.weightsAt(off, 5);
        assertThat(w2.keySet()).containsExactlyElementsOf(w1.keySet());
        for (String k : w1.keySet()) {
            assertThat(w2.get(k).data()).as("%s bit-identical for N=2 and N=1", k).isEqualTo(w1.get(k).data());
        }
        assertThat(w1.get("decoder.conv_out.weight").data()).as("the options change the training")
                .isNotEqualTo(plain.get("decoder.conv_out.weight").data());
    }

    @Test
    void twoRanksEqualOneRankWithTheSameGlobalBatch() throws Exception {
        // 5 steps, global batch 8: N=2 ranks of 4 images vs N=1 rank of 8
        Path one = tmp.resolve("n1");
        Path two = tmp.resolve("n2");
        TrainRuns.train(spark, TrainRuns.config("train.max_steps=5"), one, 1, null,
                Duration.ofSeconds(60));
        // N=2 all-reduces in buckets of 1000 floats (many buckets, parameters cut across them): same bits
        TrainRuns.train(spark, TrainRuns.config("train.max_steps=5", "train.allreduce_bucket_mb=0.004"), two, 2, null,
                Duration.ofSeconds(60));
        var w1 = TrainRuns.weightsAt(one, 5);
        var w2 = TrainRuns.weightsAt(two, 5);
        TrainRuns.assertClose(w2, w1, 1e-5);
        // stronger: fixed micro-batches and N-independent sums make N=2 and N=1 bit-identical
        assertThat(w2.keySet()).containsExactlyElementsOf(w1.keySet());
        for (String k : w1.keySet()) {
            assertThat(w2.get(k).data()).as("%s bit-identical for N=2 and N=1", k).isEqualTo(w1.get(k).data());
        }
        // the models compute the same function: same codes and reconstructions of real images
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager();
                RqVae a = RqVae.fromStateDict(TrainRuns.config().model(), w1, m);
                RqVae b = RqVae.fromStateDict(TrainRuns.config().model(), w2, m)) {
            int res = 16;
            NDArray x = m.create(SyntheticImages.batch(8, res, 11), new Shape(8, 3, res, res));
            assertThat(b.codes(x).toLongArray()).containsExactly(a.codes(x).toLongArray());
            float[] ra = a.forward(x, false, Collective.local(), null).recon().toFloatArray();
            float[] rb = b.forward(x, false, Collective.local(), null).recon().toFloatArray();
            double num = 0;
            double den = 0;
            for (int i = 0; i < ra.length; i++) {
                num += (double) (ra[i] - rb[i]) * (ra[i] - rb[i]);
                den += (double) ra[i] * ra[i];
            }
            assertThat(Math.sqrt(num / den)).isLessThanOrEqualTo(1e-5);
        }
        // and the per-step losses agree
        List<String> l1 = TrainRuns.metrics(one);
        List<String> l2 = TrainRuns.metrics(two);
        assertThat(l2).hasSameSizeAs(l1);
        for (int i = 0; i < l1.size(); i++) {
            double a1 = new com.fasterxml.jackson.databind.ObjectMapper().readTree(l1.get(i)).get("loss").asDouble();
            double a2 = new com.fasterxml.jackson.databind.ObjectMapper().readTree(l2.get(i)).get("loss").asDouble();
            assertThat(a2).isCloseTo(a1, org.assertj.core.data.Percentage.withPercentage(1e-3));
        }
    }

    @Test
    void shardedOptimizerStateGivesTheReferenceRunAndCheckpointsAfterAFailure() throws Exception {
        // train.shard_optimizer_state: each rank holds its tensors' Adam moments; rank 1 throws before step 5,
        // the run resumes from the step-3 checkpoint that rank 0 wrote with the moments streamed from rank 1
        Path run = tmp.resolve("sharded");
        TrainingJob.Result r = TrainRuns.train(spark, TrainRuns.config("train.shard_optimizer_state=true",
                "train.allreduce_bucket_mb=0.004"), run, 2, "throw:1:5", Duration.ofSeconds(60));
        assertThat(r.submissions()).isGreaterThan(1);
        assertThat(r.weightsSha256()).isEqualTo(referenceResult.weightsSha256());
        for (String step : List.of("step-00000003", "step-00000006")) {
            for (String file : List.of("model.safetensors", "optimizer.safetensors")) {
                Path sharded = run.resolve("checkpoints").resolve(step).resolve(file);
                Path unsharded = reference.resolve("checkpoints").resolve(step).resolve(file);
                assertThat(java.util.Arrays.equals(Files.readAllBytes(sharded), Files.readAllBytes(unsharded)))
                        .as("%s/%s written sharded equals the unsharded one byte for byte", step, file).isTrue();
            }
        }
        assertThat(TrainRuns.metrics(run)).hasSize(TrainRuns.STEPS).allMatch(l -> l.contains("\"param_sync_seconds\""));
        assertThat(TrainRuns.metrics(reference)).noneMatch(l -> l.contains("param_sync_seconds"));
    }

    @Test
    void anUnshardedRunResumesWithShardedOptimizerStateBitIdentically() throws Exception {
        // the reference (unsharded) stopped after its step-3 checkpoint; resumed with train.shard_optimizer_state
        // on (a setting that does not change the results: not a different configuration)
        Path run = tmp.resolve("switched");
        TrainRuns.copyRun(reference, run);
        try (java.util.stream.Stream<Path> files = Files.walk(run.resolve("checkpoints/step-00000006"))) {
            for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(f);
            }
        }
        byte[] runJson = Files.readAllBytes(run.resolve("run.json"));
        TrainingJob.Result r = TrainRuns.train(spark, TrainRuns.config("train.shard_optimizer_state=true"), run, 2,
                null, Duration.ofSeconds(60));
        assertThat(r.submissions()).isEqualTo(1);
        assertThat(r.weightsSha256()).isEqualTo(referenceResult.weightsSha256());
        Path file = Path.of("checkpoints", "step-00000006", "optimizer.safetensors");
        assertThat(java.util.Arrays.equals(Files.readAllBytes(run.resolve(file)), Files.readAllBytes(reference.resolve(file))))
                .as("step-6 optimizer file written sharded after the switch").isTrue();
        assertThat(Files.readAllBytes(run.resolve("run.json"))).as("run.json kept as written").isEqualTo(runJson);
    }

    @Test
    void aRankThatThrowsIsRecoveredBitIdentically() throws Exception {
        Path run = tmp.resolve("fault");
        TrainingJob.Result r = TrainRuns.train(spark, TrainRuns.config(), run, 2, "throw:1:5",
                Duration.ofSeconds(60));
        assertThat(r.submissions()).isGreaterThan(1);
        assertThat(run.resolve("_fault_injected_throw_1_5")).exists();
        assertThat(r.weightsSha256()).isEqualTo(referenceResult.weightsSha256());
        assertThat(TrainRuns.finalWeights(run)).usingRecursiveComparison().isEqualTo(TrainRuns.finalWeights(reference));
        // a retried segment is logged once
        assertThat(TrainRuns.metrics(run)).hasSize(TrainRuns.STEPS);
    }

    @Test
    void aCorruptLastCheckpointIsSkippedAndItsStepsTrainedAgainBitIdentically() throws Exception {
        Path run = tmp.resolve("corrupt");
        TrainRuns.copyRun(reference, run);
        Path model = run.resolve("checkpoints/step-00000006/model.safetensors");
        byte[] b = Files.readAllBytes(model);
        b[b.length - 1] ^= 1; // same size: only the SHA-256 check finds it
        Files.write(model, b);
        TrainingJob.Result r = TrainRuns.train(spark, TrainRuns.config(), run, 2, null,
                Duration.ofSeconds(60));
        assertThat(r.submissions()).as("not taken for a complete run").isEqualTo(1);
        assertThat(r.weightsSha256()).isEqualTo(referenceResult.weightsSha256());
        new RunDirectory(run.toString(), new org.apache.hadoop.conf.Configuration()).verify(6);
        assertThat(TrainRuns.metrics(run)).hasSize(TrainRuns.STEPS);
    }

    @Test
    void aHungPeerFailsTheStageWithinTheTimeoutAndTheRunRecovers() throws Exception {
        Path run = tmp.resolve("hang");
        long t0 = System.nanoTime();
        TrainingJob.Result r = TrainRuns.train(spark, TrainRuns.config(), run, 2, "hang:1:4",
                Duration.ofSeconds(3));
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertThat(r.submissions()).isGreaterThan(1);
        assertThat(seconds).as("hung peer detected within the 3 s time-out plus restart").isLessThan(60);
        assertThat(r.weightsSha256()).isEqualTo(referenceResult.weightsSha256());
    }

    @Test
    void rerunningACompleteRunResumesAndADifferentConfigIsRefused() throws Exception {
        TrainingJob.Result again = TrainRuns.train(spark, TrainRuns.config(), reference, 2, null,
                Duration.ofSeconds(60));
        assertThat(again.steps()).isEqualTo(TrainRuns.STEPS);
        assertThat(again.submissions()).isZero();
        RqVaeRunConfig other = TrainRuns.config("train.lr=5e-4");
        assertThatThrownBy(() -> TrainRuns.train(spark, other, reference, 2, null,
                        Duration.ofSeconds(60)))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("different configuration");
        assertThatThrownBy(() -> new VaeStage(TrainRuns.config("train.batch_size=6"), TrainRuns.data()).check(4))
                .isInstanceOf(ConfigException.class).hasMessageContaining("train.batch_size");
    }

    @Test
    void aRunStartedBeforeAKeyWasAddedResumesBitIdenticallyAndRealDifferencesAreNamed() throws Exception {
        // an rq without train.allreduce_bucket_mb wrote the run; it stopped after the step-3 checkpoint
        Path run = tmp.resolve("older");
        TrainRuns.copyRun(reference, run);
        TrainRuns.asWrittenBefore(run, "train.allreduce_bucket_mb", "train.shard_optimizer_state");
        try (java.util.stream.Stream<Path> files = Files.walk(run.resolve("checkpoints/step-00000006"))) {
            for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(f);
            }
        }
        byte[] runJson = Files.readAllBytes(run.resolve("run.json"));
        TrainingJob.Result r = TrainRuns.train(spark, TrainRuns.config(), run, 2, null, Duration.ofSeconds(60));
        assertThat(r.submissions()).isEqualTo(1);
        assertThat(r.steps()).isEqualTo(TrainRuns.STEPS);
        assertThat(r.weightsSha256()).as("resumed at step 3, bit-identical").isEqualTo(referenceResult.weightsSha256());
        assertThat(TrainRuns.metrics(run)).hasSize(TrainRuns.STEPS);
        assertThat(Files.readAllBytes(run.resolve("run.json"))).as("run.json kept as written").isEqualTo(runJson);
        // a value present in both that differs, and a new key set to a non-default value: refused, named
        assertThatThrownBy(() -> TrainRuns.train(spark, TrainRuns.config("train.lr=5e-4"), run, 2, null,
                        Duration.ofSeconds(60)))
                .isInstanceOf(RunConflictException.class).hasMessageContaining("different configuration")
                .hasMessageContaining("train.lr: 0.001 → 5.0E-4");
        assertThatThrownBy(() -> TrainRuns.train(spark, TrainRuns.config("train.allreduce_bucket_mb=0.004"), run, 2,
                        null, Duration.ofSeconds(60)))
                .isInstanceOf(RunConflictException.class)
                .hasMessageContaining("train.allreduce_bucket_mb: not in the stored config (default 25.0) → 0.004");
        assertThat(Files.readAllBytes(run.resolve("run.json"))).isEqualTo(runJson);
    }

    @Test
    void initStartsFromAnotherRunsWeightsWithAFreshOptimizerAndChecksShapes() throws Exception {
        Path from = reference.resolve("checkpoints/step-00000006");
        Path tuned = tmp.resolve("tuned");
        RqVaeRunConfig c = TrainRuns.config("train.max_steps=1", "train.init=" + from, "train.lr=1e-30",
                "train.warmup_steps=0");
        TrainingJob.Result r = TrainRuns.train(spark, c, tuned, 2, null, Duration.ofSeconds(60));
        assertThat(r.steps()).isEqualTo(1);
        TrainRuns.assertStartedFrom(TrainRuns.weightsAt(reference, 6), TrainRuns.weightsAt(tuned, 1),
                tuned.resolve("checkpoints/step-00000001"), c.train().betas());
        // a model of another shape: refused before any cluster work, naming the first mismatching tensor
        RqVaeRunConfig wider = TrainRuns.config("train.init=" + from, "model.ddconfig.ch=64");
        assertThatThrownBy(() -> TrainRuns.train(spark, wider, tmp.resolve("wider"), 2, null,
                        Duration.ofSeconds(60)))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("train.init: ")
                .hasMessageContaining("tensor encoder.conv_in.weight has shape [32, 3, 3, 3] in the state dict, but the"
                        + " config gives [64, 3, 3, 3]");
        assertThat(tmp.resolve("wider").resolve("run.json")).doesNotExist();
        assertThatThrownBy(() -> TrainRuns.train(spark, TrainRuns.config("train.init="
                        + tmp.resolve("nothing-here")), tmp.resolve("none"), 2, null, Duration.ofSeconds(60)))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("train.init: ").hasMessageContaining("no manifest.json");
    }
}
