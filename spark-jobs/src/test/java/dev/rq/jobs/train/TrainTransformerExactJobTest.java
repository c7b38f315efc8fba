package dev.rq.jobs.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rq.data.loader.BlockIndex;
import dev.rq.data.loader.EpochPlan;
import dev.rq.data.loader.TokenBlocks;
import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.tokenize.TokenFixtures;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.transformer.TransformerTrainer;
import dev.rq.tables.TestTokenTables;
import dev.rq.tables.TokenSplit;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Stage 2 beyond N = 2: the tiny RQ-Transformer (soft targets from latents, stochastic codes, dropout) on a
 * real local[4] session, every tensor and Adam moment of both checkpoints compared byte for byte with one
 * worker's run of the same global batch ({@link TrainExactJobTest#sameCheckpoints}): N = 4 with two
 * micro-batches per rank and two accumulation steps, sharded optimizer state in small buckets and class
 * dropout ({@code model.cond_drop_prob}); N = 3 with one micro-batch of 3 rows per rank after an injected
 * rank failure. The token table has {@value #ROWS} rows in row groups of about 5: its canonical partitions
 * hold 3 or 4 (C = 8) or 9 or 10 rows (C = 3), so the ranks' shares differ by a row, row groups are split
 * between ranks, every epoch skips rows, and the {@value TrainExactJobTest#STEPS} steps cross epochs.
 */
class TrainTransformerExactJobTest {

    static final int ROWS = 29;

    static SparkSession spark;
    @TempDir static Path tmp;
    static Path vae;
    static String tokens;
    static final Map<String, Path> ONE_RANK = new HashMap<>();

    @BeforeAll
    static void start() throws Exception {
        spark = SparkSessions.getOrCreate("test", 4);
        vae = TokenFixtures.tinyCheckpoint(tmp.resolve("vae"), 5);
        tokens = tmp.resolve("tokens").toString();
        TestTokenTables.write(tmp.resolve("tokens"), "train", ROWS, new int[] {8, 8, 4}, 32, new int[] {8, 8, 16},
                TokenFixtures.codebookSha256(vae), 12L << 10, 2, 3);
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    /** tiny.yaml, global batch {@code batch} in micro-batches of {@code micro} rows, checkpoints at steps 2 and 4. */
    static TransformerRunConfig config(int batch, int micro, String... extra) throws Exception {
        List<String> s = new ArrayList<>(List.of("vae.checkpoint=" + vae, "train.batch_size=" + batch,
                "train.micro_batch_size=" + micro, "train.max_steps=" + TrainExactJobTest.STEPS,
                "train.checkpoint_every=2", "train.log_every=1"));
        s.addAll(List.of(extra));
        return TransformerRunConfig.load(TokenFixtures.repo().resolve("conf/rqtransformer/tiny.yaml"), s);
    }

    static TrainingJob.Result train(Path run, int workers, String fault, TransformerRunConfig c) throws Exception {
        return TrainingJob.run(spark, new TransformerStage(c, tokens, "train", null), new TrainingJob.Options(
                run.toString(), workers, Duration.ofSeconds(60), 2, fault));
    }

    /** The one-worker run of {@code c} (trained once per name). */
    static synchronized Path oneRank(String name, TransformerRunConfig c) throws Exception {
        Path run = ONE_RANK.get(name);
        if (run == null) {
            run = tmp.resolve("n1-" + name);
            train(run, 1, null, c);
            ONE_RANK.put(name, run);
        }
        return run;
    }

    /**
     * Per rank, the distinct rows its slices of the first {@code epochs} epochs read, and whether some row
     * group is read by two ranks.
     */
    static int[] rowsPerRank(TransformerRunConfig c, int workers, int epochs, boolean[] sharedBlock) throws Exception {
        BlockIndex blocks = new TokenBlocks(TokenSplit.open(tokens, "train", spark.sparkContext()
                .hadoopConfiguration()), true).index();
        EpochPlan plan = TransformerStage.loaderConfig(c).plan(blocks, c.train().seed());
        int[] rows = new int[workers];
        Map<Integer, Integer> blockRank = new HashMap<>();
        for (int r = 0; r < workers; r++) {
            Set<Long> seen = new HashSet<>();
            for (int e = 0; e < epochs; e++) {
                for (long s = 0; s < plan.stepsPerEpoch(); s++) {
                    for (long row : plan.slice(e, s, r, workers)) {
                        seen.add(row);
                        Integer other = blockRank.putIfAbsent(blocks.blockOf(row), r);
                        sharedBlock[0] |= other != null && other != r;
                    }
                }
            }
            rows[r] = seen.size();
        }
        return rows;
    }

    @Test
    void fourRanksOfTwoMicroBatchesGiveOneRanksBitsShardedWithClassDropout() throws Exception {
        // B = 16 in 2 accumulation steps of 8 micro-batches of 1 row: L = 2 per rank, C = 8 partitions
        String[] s = {"train.grad_accum_steps=2", "model.cond_drop_prob=0.5"};
        TransformerRunConfig one = config(16, 1, s);
        boolean[] shared = {false};
        assertThat(rowsPerRank(one, 4, 10, shared)).containsExactly(7, 7, 7, 8);
        assertThat(shared[0]).as("a row group read by two ranks").isTrue();
        int dropped = 0;
        for (int step = 1; step <= TrainExactJobTest.STEPS; step++) {
            for (int i = 0; i < 16; i++) {
                dropped += TransformerTrainer.dropsCondition(0, step, i, 0.5) ? 1 : 0;
            }
        }
        assertThat(dropped).as("samples trained on the null class").isBetween(8, 56);
        Path four = tmp.resolve("n4-b16");
        train(four, 4, null, config(16, 1, "train.grad_accum_steps=2", "model.cond_drop_prob=0.5",
                "train.shard_optimizer_state=true", "train.allreduce_bucket_mb=0.0004"));
        TrainExactJobTest.assertSameCheckpoints(four, oneRank("b16", one),
                "N=4, L=2, M=2, sharded, buckets of 100 floats, cond_drop_prob 0.5");
    }

    @Test
    void threeRanksOfUnevenRowsGiveOneRanksBitsAfterAFailure() throws Exception {
        // B = 9 in micro-batches of 3 rows: L = 1 per rank; C = 3 partitions of 9, 10 and 10 rows
        TransformerRunConfig c = config(9, 3, "data.partitions=3");
        boolean[] shared = {false};
        assertThat(rowsPerRank(c, 3, 10, shared)).containsExactly(9, 10, 10);
        assertThat(shared[0]).as("a row group read by two ranks").isTrue();
        Path three = tmp.resolve("n3-b9");
        TrainingJob.Result r = train(three, 3, "throw:1:3", c); // rank 1 fails before step 3: resumes at 2
        assertThat(r.submissions()).isGreaterThan(1);
        TrainExactJobTest.assertSameCheckpoints(three, oneRank("b9", c), "N=3, L=1, uneven rows, resumed");
    }
}
