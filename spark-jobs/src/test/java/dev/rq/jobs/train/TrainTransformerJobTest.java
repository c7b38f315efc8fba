package dev.rq.jobs.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import dev.rq.io.HadoopDir;
import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.tokenize.TokenFixtures;
import dev.rq.jobs.tokenize.TokenizeJob;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.transformer.TransformerCheckpoint;
import dev.rq.tables.Variant;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Stage-2 training on a real local[2] session from a token table with latents (soft targets and
 * stochastic codes, dropout on): N-equivalence, bit-identical recovery from a failing rank, and
 * the token-table / RQ-VAE checks.
 */
class TrainTransformerJobTest {

    static SparkSession spark;
    @TempDir static Path tmp;
    static Path vae;
    static String tokens;
    static TrainingJob.Result reference;

    @BeforeAll
    static void start() throws Exception {
        spark = SparkSessions.getOrCreate("test", 2);
        vae = TokenFixtures.tinyCheckpoint(tmp.resolve("vae"), 5);
        tokens = tmp.resolve("tokens").toString();
        TokenizeJob.run(spark, new TokenizeJob.Options(vae.toString(), TokenFixtures.repo().resolve("data/emoji")
                .toString(), tokens, List.of(Variant.CENTER), 16, List.of("validation"), true, 1, 0));
        reference = run(tmp.resolve("reference"), 2, null);
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    static TransformerRunConfig config(String... extra) throws Exception {
        List<String> sets = new ArrayList<>(List.of("vae.checkpoint=" + vae, "train.batch_size=8",
                "train.max_steps=6", "train.checkpoint_every=3", "train.log_every=1"));
        sets.addAll(List.of(extra));
        return TransformerRunConfig.load(TokenFixtures.repo().resolve("conf/rqtransformer/tiny.yaml"), sets);
    }

    static TrainingJob.Result run(Path out, int workers, String fault, String... extra) throws Exception {
        TransformerStage stage = new TransformerStage(config(extra), tokens, "validation", "validation");
        return TrainingJob.run(spark, stage, new TrainingJob.Options(out.toString(), workers, Duration.ofSeconds(60), 2,
                fault));
    }

    static Map<String, HostTensor> weights(Path run, long step) throws Exception {
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager()) {
            var l = TransformerCheckpoint.load(new HadoopDir(run.resolve("checkpoints")
                    .resolve(RunDirectory.name(step)).toString(), spark.sparkContext().hadoopConfiguration()), m);
            try (RqTransformer t = l.model()) {
                return t.stateDict();
            }
        }
    }

    @Test
    void referenceRunReportsHeldOutBitsPerCode() throws Exception {
        assertThat(reference.steps()).isEqualTo(6);
        List<String> held = Files.readAllLines(tmp.resolve("reference/heldout.jsonl"));
        assertThat(held).hasSize(2);
        assertThat(held.get(1)).contains("\"step\":6").contains("\"bits_per_code\":[");
        assertThat(TrainRuns.metrics(tmp.resolve("reference"))).hasSize(6);
        RunReportTest.assertFinishedReport(tmp.resolve("reference"), "rqtransformer", 6);
    }

    @Test
    void twoRanksEqualOneRank() throws Exception {
        // train.allreduce_order reaches the stage: auto = tree for 4 ranks (N a power of two), ring when set
        assertThat(new TransformerStage(config(), tokens, "validation", "validation").treeAllReduce(4)).isTrue();
        assertThat(new TransformerStage(config("train.allreduce_order=ring"), tokens, "validation", "validation")
                .treeAllReduce(4)).isFalse();
        Path one = tmp.resolve("n1");
        run(one, 1, null, "train.max_steps=5");
        Path two = tmp.resolve("n2");
        run(two, 2, null, "train.max_steps=5", "train.allreduce_bucket_mb=0.004"); // buckets of 1000 floats
        // micro-batches of train.micro_batch_size (1 here): every tensor and Adam moment as one rank's
        TrainExactJobTest.assertSameCheckpoints(two, one, "N=2, L=4", 3, 5);
    }

    @Test
    void aFailingRankIsRecoveredBitIdentically() throws Exception {
        TrainingJob.Result r = run(tmp.resolve("fault"), 2, "throw:0:5");
        assertThat(r.submissions()).isGreaterThan(1);
        assertThat(r.weightsSha256()).isEqualTo(reference.weightsSha256());
    }

    @Test
    void shardedOptimizerStateIsBitIdenticalThroughARank0Failure() throws Exception {
        // AdamW with decayed and undecayed groups, moments sharded over 2 ranks; rank 0 (the writer) fails at
        // step 5 and the run resumes from the step-3 checkpoint whose moments were partly streamed from rank 1
        Path run = tmp.resolve("sharded");
        TrainingJob.Result r = run(run, 2, "throw:0:5", "train.shard_optimizer_state=true",
                "train.allreduce_bucket_mb=0.004");
        assertThat(r.submissions()).isGreaterThan(1);
        assertThat(r.weightsSha256()).isEqualTo(reference.weightsSha256());
        for (String step : List.of(RunDirectory.name(3), RunDirectory.name(6))) {
            for (String file : List.of("model.safetensors", "optimizer.safetensors")) {
                byte[] sharded = Files.readAllBytes(run.resolve("checkpoints").resolve(step).resolve(file));
                byte[] plain = Files.readAllBytes(tmp.resolve("reference/checkpoints").resolve(step).resolve(file));
                assertThat(java.util.Arrays.equals(sharded, plain)).as("%s/%s equals the unsharded run's", step, file)
                        .isTrue();
            }
        }
    }

    @Test
    void aRunStartedBeforeKeysWereAddedResumesAndANonDefaultNewKeyIsRefused() throws Exception {
        Path older = tmp.resolve("older");
        TrainRuns.copyRun(tmp.resolve("reference"), older);
        TrainRuns.asWrittenBefore(older, "model.cond_drop_prob", "sampling.cfg_scale", "train.allreduce_bucket_mb",
                "train.shard_optimizer_state");
        TrainingJob.Result r = run(older, 2, null);
        assertThat(r.submissions()).as("already complete").isZero();
        assertThat(r.steps()).isEqualTo(6);
        assertThatThrownBy(() -> run(older, 2, null, "model.cond_drop_prob=0.1"))
                .isInstanceOf(RunConflictException.class)
                .hasMessageContaining("model.cond_drop_prob: not in the stored config (default 0.0) → 0.1");
    }

    @Test
    void softTargetsNeedLatentsAndTheMatchingVae() throws Exception {
        Path otherVae = TokenFixtures.tinyCheckpoint(tmp.resolve("other-vae"), 6);
        TransformerRunConfig wrong = TransformerRunConfig.load(TokenFixtures.repo().resolve(
                "conf/rqtransformer/tiny.yaml"), List.of("vae.checkpoint=" + otherVae));
        assertThatThrownBy(() -> TrainingJob.run(spark, new TransformerStage(wrong, tokens, "validation", null),
                        new TrainingJob.Options(tmp.resolve("x").toString(), 2, Duration.ofSeconds(5), 0, null)))
                .isInstanceOf(ConfigException.class).hasMessageContaining("did not write token table");
        assertThatThrownBy(() -> new TransformerStage(config(), tokens, "nope", null).validate(
                        spark.sparkContext().hadoopConfiguration(), 2))
                .isInstanceOf(ConfigException.class).hasMessageContaining("nope");
    }

    @Test
    void initStartsFromAnotherRunsWeightsWithAFreshOptimizerAndChecksShapes() throws Exception {
        Path from = tmp.resolve("reference/checkpoints/step-00000006");
        Path tuned = tmp.resolve("tuned");
        TrainingJob.Result r = run(tuned, 2, null, "train.max_steps=1", "train.init=" + from, "train.lr=1e-30",
                "train.warmup_steps=0");
        assertThat(r.steps()).isEqualTo(1);
        TrainRuns.assertStartedFrom(weights(tmp.resolve("reference"), 6), weights(tuned, 1),
                tuned.resolve("checkpoints/step-00000001"), config().train().betas());
        assertThatThrownBy(() -> run(tmp.resolve("wider"), 2, null, "train.init=" + from, "model.embed_dim=48"))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("train.init: ")
                .hasMessageContaining("tensor pos_emb_cond has shape [1, 1, 32] in the state dict, but the config"
                        + " gives [1, 1, 48]");
        // a stage-1 checkpoint cannot start a stage-2 run
        assertThatThrownBy(() -> run(tmp.resolve("kind"), 2, null, "train.init=" + vae))
                .isInstanceOf(ConfigException.class).hasMessageContaining("holds a 'rqvae' model");
    }
}
