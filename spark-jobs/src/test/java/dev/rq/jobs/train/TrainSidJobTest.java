package dev.rq.jobs.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rq.jobs.SparkSessions;
import dev.rq.model.checkpoint.LocalDir;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.SidRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.nn.Tensors;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.sid.RqKMeans;
import dev.rq.model.sid.SidCheckpoint;
import dev.rq.model.sid.SidCoder;
import dev.rq.model.sid.SyntheticItems;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code rq train-sid} on a real local[2] session: both methods, N=2 ≡ N=1, recovery from an
 * injected rank failure bit-identical to the uninterrupted run, prepared items with rejects,
 * progress, plots and report. The uninterrupted N=2 runs are the references.
 */
class TrainSidJobTest {

    static final int DIM = 16;
    static final int STEPS = 12;
    static final SyntheticItems GEN = new SyntheticItems(8, DIM, 24, 4, 0.25);
    static SparkSession spark;
    @TempDir static Path tmp;
    static String data;
    static TrainingJob.Result vaeRef;
    static TrainingJob.Result kmRef;

    @BeforeAll
    static void start() throws Exception {
        spark = SparkSessions.getOrCreate("test-train-sid", 2);
        List<Row> rows = new ArrayList<>();
        for (long i = 0; i < 600; i++) {
            float[] e = new float[DIM];
            GEN.embedding(i, e, 0);
            List<Float> l = new ArrayList<>();
            for (float v : e) {
                l.add(v);
            }
            rows.add(RowFactory.create(i, l, (long) GEN.label(i)));
        }
        List<Float> shortRow = new ArrayList<>(List.of(1f, 2f));
        rows.add(RowFactory.create(9999L, shortRow, 0L));
        data = tmp.resolve("items").toString();
        spark.createDataFrame(rows, DataTypes.createStructType(List.of(
                DataTypes.createStructField("item_id", DataTypes.LongType, true),
                DataTypes.createStructField("embedding", DataTypes.createArrayType(DataTypes.FloatType), true),
                DataTypes.createStructField("label", DataTypes.LongType, true)))).repartition(2).write().parquet(data);
        vaeRef = train(config("rqvae"), tmp.resolve("vae-ref"), 2, null);
        kmRef = train(config("rq-kmeans"), tmp.resolve("km-ref"), 2, null);
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    static SidRunConfig config(String method, String... extra) throws IOException {
        List<String> sets = new ArrayList<>(List.of("model.method=" + method, "train.max_steps=" + STEPS,
                "train.checkpoint_every=4", "train.log_every=1", "kmeans.iterations=4"));
        sets.addAll(List.of(extra));
        return SidRunConfig.load(TrainRuns.repo().resolve("conf/sid/tiny.yaml"), sets);
    }

    static TrainingJob.Result train(SidRunConfig c, Path run, int workers, String fault) throws IOException {
        return SidStage.train(spark, c, data, new TrainingJob.Options(run.toString(), workers, Duration.ofSeconds(60), 2,
                fault));
    }

    static Map<String, HostTensor> weights(Path run, long step) throws IOException {
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager()) {
            var l = dev.rq.model.checkpoint.Checkpoints.read(new LocalDir(run.resolve("checkpoints")
                    .resolve(RunDirectory.name(step))));
            return l.model();
        }
    }

    @Test
    void rqvaeRunPreparesItemsTrainsAndReports() throws Exception {
        Path run = tmp.resolve("vae-ref");
        assertThat(vaeRef.steps()).isEqualTo(STEPS);
        JsonAssert.items(run, 601, 600, 1);
        assertThat(run.resolve("checkpoints/step-00000012/manifest.json")).exists();
        List<String> metrics = TrainRuns.metrics(run);
        assertThat(metrics).hasSize(STEPS);
        assertThat(metrics.get(0)).contains("\"recon_loss\"").contains("\"codebook_loss\"").contains("\"perplexity\"");
        // tiny.yaml: 4 warm-up steps of the autoencoder alone (no codebook terms), then k-means and quantized steps
        for (int i = 0; i < STEPS; i++) {
            var n = new ObjectMapper().readTree(metrics.get(i));
            assertThat(n.path("warmup").asBoolean()).as("step %d is a warm-up step", i + 1).isEqualTo(i < 4);
            assertThat(n.path("codebook_loss").asDouble() > 0).as("step %d has a codebook loss", i + 1).isEqualTo(i >= 4);
        }
        double first = new ObjectMapper().readTree(metrics.get(0)).get("recon_loss").asDouble();
        double last = new ObjectMapper().readTree(metrics.get(STEPS - 1)).get("recon_loss").asDouble();
        assertThat(last).as("reconstruction improves").isLessThan(first);
        assertThat(run.resolve("plots/loss.png")).exists();
        assertThat(run.resolve("plots/codebook.png")).exists();
        assertThat(Files.readString(run.resolve(RunReport.FILE))).contains("Semantic-ID RQ-VAE training run")
                .contains("finished at step " + STEPS).contains("Codebook usage");
        try (NDManager m = Engines.newManager()) {
            SidCheckpoint.Loaded l = SidCheckpoint.load(new LocalDir(run.resolve("checkpoints/step-00000012")), m);
            try (SidCoder c = l.coder()) {
                NDArray x = Tensors.of(m, GEN.embeddings(0, 8), new Shape(8, DIM));
                assertThat(c.codes(x).getShape()).isEqualTo(new Shape(8, 3));
            }
        }
    }

    @Test
    void rqvaeTwoRanksEqualOneRank() throws Exception {
        // train.allreduce_order reaches the rqvae stage (auto = tree for 4 ranks); rq-kmeans keeps the ring's order
        assertThat(SidStage.of(config("rqvae"), tmp.resolve("x").toString()).treeAllReduce(4)).isTrue();
        assertThat(SidStage.of(config("rqvae", "train.allreduce_order=ring"), tmp.resolve("x").toString())
                .treeAllReduce(4)).isFalse();
        assertThat(SidStage.of(config("rq-kmeans"), tmp.resolve("x").toString()).treeAllReduce(4)).isFalse();
        Path one = tmp.resolve("vae-n1");
        train(config("rqvae"), one, 1, null);
        // fixed micro-batches (train.micro_batch_size), joint quantization per accumulation step and
        // N-independent sums (as train-vae): N=2 and N=1 are bit-identical, through the autoencoder
        // warm-up (steps 1-4), the k-means initialisation at step 4 and the quantized steps after it
        Map<String, HostTensor> w1 = weights(one, STEPS);
        Map<String, HostTensor> w2 = weights(tmp.resolve("vae-ref"), STEPS);
        assertThat(w2.keySet()).containsExactlyElementsOf(w1.keySet());
        for (String k : w1.keySet()) {
            assertThat(w2.get(k).data()).as("%s bit-identical for N=2 and N=1", k).isEqualTo(w1.get(k).data());
        }
        try (NDManager m = Engines.newManager()) {
            SidCoder a = SidCheckpoint.load(new LocalDir(one.resolve("checkpoints/step-00000012")), m).coder();
            SidCoder b = SidCheckpoint.load(new LocalDir(tmp.resolve("vae-ref/checkpoints/step-00000012")), m).coder();
            NDArray x = Tensors.of(m, GEN.embeddings(0, 600), new Shape(600, DIM));
            assertThat(b.codes(x).toLongArray()).as("codes of N=2 and N=1").containsExactly(a.codes(x).toLongArray());
        }
    }

    @Test
    void rqvaeRankFailureIsRecoveredBitIdentically() throws Exception {
        Path run = tmp.resolve("vae-fault");
        TrainingJob.Result r = train(config("rqvae"), run, 2, "throw:1:7");
        assertThat(r.submissions()).isGreaterThan(1);
        assertThat(r.weightsSha256()).isEqualTo(vaeRef.weightsSha256());
        assertThat(TrainRuns.metrics(run)).hasSize(STEPS);
    }

    @Test
    void rqKMeansFitsEveryLevelAndEqualsOneRank() throws Exception {
        Path ref = tmp.resolve("km-ref");
        assertThat(kmRef.steps()).isEqualTo(3 * 4);
        assertThat(Files.readString(ref.resolve(RunReport.FILE))).contains("residual k-means").contains("Levels");
        Path one = tmp.resolve("km-n1");
        train(config("rq-kmeans"), one, 1, null);
        Map<String, HostTensor> a = weights(one, 12);
        Map<String, HostTensor> b = weights(ref, 12);
        for (String k : a.keySet()) {
            float[] x = a.get(k).toFloats();
            float[] y = b.get(k).toFloats();
            for (int i = 0; i < x.length; i++) {
                assertThat(x[i]).as("%s[%d]", k, i).isCloseTo(y[i], org.assertj.core.api.Assertions.within(1e-5f));
            }
        }
        try (NDManager m = Engines.newManager()) {
            SidCoder c = SidCheckpoint.load(new LocalDir(ref.resolve("checkpoints/step-00000012")), m).coder();
            assertThat(c).isInstanceOf(RqKMeans.class);
            NDArray x = Tensors.of(m, GEN.embeddings(0, 600), new Shape(600, DIM));
            NDArray rec = c.reconstruct(c.codes(x));
            double err = rec.sub(x).square().sum(new int[] {1}).mean().getFloat();
            double energy = x.square().sum(new int[] {1}).mean().getFloat();
            assertThat(err).as("3 levels of 8 centroids explain most of the energy").isLessThan(0.3 * energy);
        }
    }

    @Test
    void rqKMeansRankFailureIsRecoveredBitIdentically() throws Exception {
        Path run = tmp.resolve("km-fault");
        TrainingJob.Result r = train(config("rq-kmeans"), run, 2, "throw:0:6");
        assertThat(r.submissions()).isGreaterThan(1);
        assertThat(r.weightsSha256()).isEqualTo(kmRef.weightsSha256());
    }

    @Test
    void aRunDirectoryOfAnotherConfigOrDataIsRefused() {
        assertThatThrownBy(() -> train(config("rqvae", "train.lr=1e-2"), tmp.resolve("vae-ref"), 2, null))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("different configuration")
                .hasMessageContaining("train.lr: ").hasMessageContaining(" → 0.01");
        assertThatThrownBy(() -> train(config("rqvae", "train.batch_size=33"), tmp.resolve("odd"), 2, null))
                .isInstanceOf(ConfigException.class).hasMessageContaining("train.batch_size");
    }

    @Test
    void runsStartedBeforeAKeyWasAddedResume() throws Exception {
        for (String method : List.of("rqvae", "rq-kmeans")) {
            Path older = tmp.resolve("older-" + method);
            TrainRuns.copyRun(tmp.resolve(method.equals("rqvae") ? "vae-ref" : "km-ref"), older);
            TrainRuns.asWrittenBefore(older, "train.allreduce_bucket_mb");
            TrainingJob.Result r = train(config(method), older, 2, null);
            assertThat(r.submissions()).as(method + ": already complete").isZero();
            assertThat(r.steps()).isEqualTo(STEPS);
        }
    }

    /** Checks of the prepared items' manifest. */
    static final class JsonAssert {
        static void items(Path run, long read, long accepted, long rejected) throws IOException {
            var n = new ObjectMapper().readTree(run.resolve("items/_items.json").toFile());
            assertThat(n.get("read").asLong()).isEqualTo(read);
            assertThat(n.get("accepted").asLong()).isEqualTo(accepted);
            assertThat(n.get("rejected").asLong()).isEqualTo(rejected);
            assertThat(n.get("rejected_by_reason").get("wrong_length").asLong()).isEqualTo(rejected);
        }
    }
}
