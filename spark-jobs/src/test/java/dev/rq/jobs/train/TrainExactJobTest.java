package dev.rq.jobs.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rq.jobs.SparkSessions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * N workers give one worker's bits beyond N = 2 ({@code train.allreduce_order}, default auto = the tree
 * order where it is exact): the tiny RQ-VAE (its EMA codebook statistics go through the same all-reduce)
 * on a real local[4] Spark session, every tensor and Adam moment of the checkpoints compared byte for byte
 * with one worker's run of the same global batch: N = 4 with one and with two micro-batches per rank
 * (sharded optimizer state, small buckets), N = 3 with one, also after an injected rank failure; and a run
 * started before the key existed resumes in the ring's order, keeping its bits.
 */
class TrainExactJobTest {

    static final int STEPS = 4;

    static SparkSession spark;
    @TempDir static Path tmp;
    static final Map<Integer, Path> ONE_RANK = new HashMap<>();

    @BeforeAll
    static void start() {
        spark = SparkSessions.getOrCreate("test", 4);
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    /** Tiny VAE, global batch {@code batch} of micro-batches of one image, checkpoints at steps 2 and 4. */
    static String[] settings(int batch, String... extra) {
        List<String> s = new java.util.ArrayList<>(List.of("train.batch_size=" + batch, "train.micro_batch_size=1",
                "train.max_steps=" + STEPS, "train.checkpoint_every=2"));
        if (batch % 3 == 0) {
            s.add("data.partitions=3"); // 3 workers read 3 canonical partitions (1 or 3 workers alike)
        }
        s.addAll(List.of(extra));
        return s.toArray(String[]::new);
    }

    static TrainingJob.Result train(Path run, int workers, int batch, String fault, String... extra)
            throws IOException {
        return TrainRuns.train(spark, TrainRuns.config(settings(batch, extra)), run, workers, fault,
                Duration.ofSeconds(60));
    }

    /** The one-worker run of global batch {@code batch} (trained once). */
    static synchronized Path oneRank(int batch) throws IOException {
        Path run = ONE_RANK.get(batch);
        if (run == null) {
            run = tmp.resolve("n1-b" + batch);
            train(run, 1, batch, null);
            ONE_RANK.put(batch, run);
        }
        return run;
    }

    static boolean sameCheckpoints(Path a, Path b) throws IOException {
        return sameCheckpoints(a, b, 2, STEPS);
    }

    /** @return whether the model and optimizer files of the checkpoints of {@code steps} are equal byte for byte */
    static boolean sameCheckpoints(Path a, Path b, long... steps) throws IOException {
        for (long s : steps) {
            String step = RunDirectory.name(s);
            for (String file : List.of("model.safetensors", "optimizer.safetensors")) {
                byte[] x = Files.readAllBytes(a.resolve("checkpoints").resolve(step).resolve(file));
                byte[] y = Files.readAllBytes(b.resolve("checkpoints").resolve(step).resolve(file));
                if (!Arrays.equals(x, y)) {
                    return false;
                }
            }
        }
        return true;
    }

    static void assertSameCheckpoints(Path got, Path want, String what) throws IOException {
        assertSameCheckpoints(got, want, what, 2, STEPS);
    }

    static void assertSameCheckpoints(Path got, Path want, String what, long... steps) throws IOException {
        assertThat(sameCheckpoints(got, want, steps)).as("%s: model and optimizer of the checkpoints of steps %s byte"
                + " for byte", what, Arrays.toString(steps)).isTrue();
    }

    @Test
    void fourRanksOfOneMicroBatchGiveOneRanksBits() throws Exception {
        Path four = tmp.resolve("n4-b4");
        train(four, 4, 4, null);
        assertSameCheckpoints(four, oneRank(4), "N=4, L=1");
    }

    @Test
    void fourRanksOfTwoMicroBatchesGiveOneRanksBitsAlsoShardedInSmallBuckets() throws Exception {
        Path four = tmp.resolve("n4-b8");
        train(four, 4, 8, null, "train.shard_optimizer_state=true", "train.allreduce_bucket_mb=0.0004");
        assertSameCheckpoints(four, oneRank(8), "N=4, L=2, sharded, buckets of 100 floats");
    }

    @Test
    void threeRanksOfOneMicroBatchGiveOneRanksBitsAlsoAfterAFailure() throws Exception {
        Path three = tmp.resolve("n3-b3");
        TrainingJob.Result r = train(three, 3, 3, "throw:1:3"); // rank 1 fails before step 3: resumes at 2
        assertThat(r.submissions()).isGreaterThan(1);
        assertSameCheckpoints(three, oneRank(3), "N=3, L=1, resumed after a failure");
    }

    @Test
    void aRunStartedBeforeTheKeyResumesInTheRingOrder() throws Exception {
        Path ring = tmp.resolve("n3-ring");
        TrainingJob.Result full = train(ring, 3, 3, null, "train.allreduce_order=ring");
        // the ring's order is not one worker's for N = 3 (what the tree order fixes)
        assertThat(sameCheckpoints(ring, oneRank(3))).as("N=3 in the ring order equals N=1").isFalse();
        // an rq without train.allreduce_order wrote the run; it stopped after the step-2 checkpoint
        Path older = tmp.resolve("n3-older");
        TrainRuns.copyRun(ring, older);
        TrainRuns.asWrittenBefore(older, "train.allreduce_order");
        try (java.util.stream.Stream<Path> files = Files.walk(older.resolve("checkpoints/step-00000004"))) {
            for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(f);
            }
        }
        TrainingJob.Result resumed = train(older, 3, 3, null); // default auto: tree for a new run
        assertThat(resumed.submissions()).isEqualTo(1);
        assertThat(resumed.weightsSha256()).as("resumed at step 2 in the ring's order").isEqualTo(full.weightsSha256());
        assertSameCheckpoints(older, ring, "resumed old run");
    }
}
