package dev.rq.pipelines.quickstart;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.image.ImageDecoding;
import dev.rq.data.image.ImageTransform;
import dev.rq.jobs.SparkSessions;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.checkpoint.LocalDir;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.metrics.Psnr;
import dev.rq.model.vae.RqVae;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.tables.TokenTable;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The quickstart smoke test CI runs: the whole pipeline (ingest check, 2-rank training, tokenize
 * with latents, decode, 2-rank stage-2 training with soft targets, sampling, report) on the embedded
 * emoji dataset with the tiny 16x16 RQ-VAE for 4 steps and the tiny RQ-Transformer for 4 steps, on a
 * real local[2] session with the project's Spark settings; then a rerun into the same folder, which
 * must skip every finished stage.
 */
class QuickstartJobTest {

    static SparkSession spark;
    @TempDir static Path tmp;
    static Path out;
    static QuickstartJob.Result first;
    static String firstConsole;

    static Path repo() {
        Path dir = Path.of(System.getProperty("rq.repo.dir", "")).toAbsolutePath();
        while (dir != null && !Files.isDirectory(dir.resolve("conf"))) {
            dir = dir.getParent();
        }
        return dir;
    }

    static RqVaeRunConfig tinyConfig() throws Exception {
        return Configs.loadRqVae(repo().resolve("conf/rqvae/tiny.yaml"),
                List.of("train.max_steps=4", "train.log_every=1", "data.decode_threads=1"));
    }

    /**
     * The tiny RQ-Transformer (K = 32, 10 classes) on the tiny RQ-VAE: 4 steps, held-out at steps 2 and 4;
     * classifier-free guidance on (null class, scale 2), as in conf/rqtransformer/quickstart.yaml.
     */
    static QuickstartJob.Stage2 tinyStage2() throws Exception {
        TransformerRunConfig c = TransformerRunConfig.load(repo().resolve("conf/rqtransformer/tiny.yaml"),
                List.of("train.max_steps=4", "train.checkpoint_every=2", "train.log_every=1", "model.cond_drop_prob=0.1",
                        "sampling.cfg_scale=2.0"));
        return new QuickstartJob.Stage2(c, "conf/rqtransformer/tiny.yaml --stage2-max-steps 4", SAMPLES_PER_CLASS, 7);
    }

    static final int SAMPLES_PER_CLASS = 2;

    static QuickstartJob.Options options(String data, Path outDir) throws Exception {
        return QuickstartJob.Options.emoji(tinyConfig(), "conf/rqvae/tiny.yaml --max-steps 4", data,
                outDir.toString(), 2).withStage2(tinyStage2());
    }

    @BeforeAll
    static void runOnce() throws Exception {
        spark = SparkSessions.getOrCreate("quickstart-test", 2);
        out = tmp.resolve("qs");
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        first = QuickstartJob.run(spark, options(repo().resolve("data/emoji").toString(), out),
                new PrintStream(console, true, StandardCharsets.UTF_8));
        firstConsole = console.toString(StandardCharsets.UTF_8);
        System.out.print(firstConsole);
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
    }

    @Test
    void everyStageRanAndTheReportHasPsnrManifestAndImages() throws Exception {
        assertThat(first.stages()).extracting(StageTimer.Stage::name)
                .containsExactly("ingest", "train", "tokenize", "decode", "train-transformer", "sample", "report");
        assertThat(first.stages()).extracting(StageTimer.Stage::status).containsOnly(Outcome.Status.RAN);
        assertThat(first.trainSteps()).isEqualTo(4);
        assertThat(first.psnr().n()).isEqualTo(186);
        // the pipeline's figure (tokenize -> token table -> decode job -> statistics) is the PSNR of
        // the final checkpoint's own reconstruction of the validation images, recomputed here in-process
        assertThat(first.psnr().mean()).isCloseTo(referencePsnr(first.finalCheckpoint()),
                org.assertj.core.data.Offset.offset(1e-3));

        // the ingest check printed counts per split and class
        assertThat(firstConsole).contains("smileys_emotion").contains("1720").contains("186")
                .contains("report: " + first.reportUri());

        Path report = out.resolve("report.html");
        assertThat(report).exists();
        String html = Files.readString(report);
        assertThat(html).contains(String.format(java.util.Locale.ROOT, "%.2f dB", first.psnr().mean()))
                .contains("PSNR")
                .contains("rq-token-table").contains("&quot;code_shape&quot;").contains("&quot;checkpoint_sha256&quot;")
                .contains("Stage timings").contains("tokenize").contains("perplexity");
        for (String img : List.of("train/plots/loss.png", "train/plots/codebook.png", "eval/comparison.png",
                "eval/code-usage.png")) {
            assertThat(html).contains("<img src=\"" + img + "\"");
            BufferedImage b = ImageIO.read(out.resolve(img).toFile());
            assertThat(b).as(img).isNotNull();
            assertThat(b.getWidth()).as(img).isGreaterThan(100);
        }
        assertThat(out.resolve("decode/grid.png")).exists();
        // the PSNR of all 186 rows was measured in the decode tasks: only the comparison grid's images came back
        assertThat(Files.readString(out.resolve("decode/index.html")))
                .contains("grid: the first " + QuickstartJob.SHOWN_PAIRS + " rows; table: the first "
                        + QuickstartJob.SHOWN_PAIRS + " (every file: _SUCCESS)");

        JsonNode eval = new ObjectMapper().readTree(out.resolve("eval/eval.json").toFile());
        assertThat(eval.path("per_image")).hasSize(186);
        assertThat(eval.path("psnr").path("mean").asDouble()).isCloseTo(first.psnr().mean(),
                org.assertj.core.data.Offset.offset(1e-3));
    }

    /** Mean PSNR of the emoji validation images reconstructed (eval mode) by the checkpoint at {@code uri}. */
    static double referencePsnr(String uri) throws Exception {
        CanonicalDataset ds = CanonicalDataset.open(repo().resolve("data/emoji/validation").toString(),
                new Configuration());
        List<CanonicalDataset.Sample> samples = ds.readAll();
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager();
                RqVae vae = VaeCheckpoint.load(new LocalDir(Path.of(java.net.URI.create(uri.startsWith("file:") ? uri
                        : "file:" + uri))), m).vae()) {
            int s = vae.config().ddconfig().resolution();
            int n = 3 * s * s;
            ImageTransform t = new ImageTransform(s, ImageTransform.Mode.EVAL);
            double sum = 0;
            float[] x = new float[n];
            for (CanonicalDataset.Sample sample : samples) {
                t.apply(ImageDecoding.decode(sample.bytes()), 0L, x, 0);
                try (NDManager sub = m.newSubManager()) {
                    float[] rec = vae.forward(sub.create(x, new Shape(1, 3, s, s)), false, Collective.local(), null)
                            .recon().toFloatArray();
                    sum += Psnr.of(x, 0, rec, 0, n);
                }
            }
            assertThat(samples).hasSize(186);
            return sum / samples.size();
        }
    }

    @Test
    void stageTwoTrainedSampledAndIsInTheReport() throws Exception {
        QuickstartJob.Stage2Result s2 = first.stage2();
        assertThat(s2).isNotNull();
        assertThat(s2.steps()).isEqualTo(4);
        assertThat(s2.heldOutStep()).isEqualTo(4);
        assertThat(s2.heldOutBitsPerCode()).hasSize(4);
        for (double b : s2.heldOutBitsPerCode()) {
            // a 4-step model is close to uniform over K = 32 (5 bits), but finite and positive
            assertThat(b).isFinite().isBetween(0.5, 12.0);
        }
        // held-out lines at both checkpoints
        List<String> held = Files.readAllLines(out.resolve("stage2/heldout.jsonl"));
        assertThat(held).hasSize(2);
        assertThat(firstConsole).contains("bits/code");

        // samples: one PNG per (class, index) of the 9 classes, a grid per class, the codes table
        for (int c = 0; c < 9; c++) {
            for (int i = 0; i < SAMPLES_PER_CLASS; i++) {
                BufferedImage b = ImageIO.read(out.resolve("samples/images/class-" + c + "/" + i + ".png").toFile());
                assertThat(b.getWidth()).isEqualTo(16);
            }
            assertThat(out.resolve("samples/grids/class-" + c + ".png")).exists();
        }
        assertThat(out.resolve("samples/images/class-9")).doesNotExist(); // the model has 10, the data 9 classes
        TokenTable samples = TokenTable.read(spark, out.resolve("samples/codes").toString());
        assertThat(samples.rows().count()).isEqualTo(9L * SAMPLES_PER_CLASS);

        String html = Files.readString(out.resolve("report.html"));
        assertThat(html).contains("Stage 2: RQ-Transformer").contains("Bits per code (validation)")
                .contains("held-out bits/code").contains("unigram entropy").contains("train-transformer")
                .contains(String.format(java.util.Locale.ROOT, "%.3f", s2.heldOutMeanBitsPerCode()))
                .contains("Samples").contains("classifier-free guidance scale 2.0")
                .contains("class dropped to the null class with p = 0.1");
        assertThat(state0().path("stages").path("sample").path("note").asText()).contains("guidance scale 2.0");
        for (String img : List.of("eval/stage2-bits.png", "eval/stage2-heldout-depths.png", "eval/samples.png", "samples/grids/class-0.png", "samples/grids/class-8.png")) {
            assertThat(html).contains("<img src=\"" + img + "\"");
            BufferedImage b = ImageIO.read(out.resolve(img).toFile());
            assertThat(b).as(img).isNotNull();
            assertThat(b.getWidth()).as(img).isGreaterThan(30);
        }
        // the overview: 9 rows of 2 samples at 64 px
        assertThat(ImageIO.read(out.resolve("eval/samples.png").toFile()).getHeight()).isGreaterThanOrEqualTo(9 * 64);

        JsonNode state = new ObjectMapper().readTree(out.resolve("quickstart.json").toFile());
        JsonNode st = state.path("stage2");
        assertThat(st.path("steps").asInt()).isEqualTo(4);
        assertThat(st.path("held_out_bits_per_code")).hasSize(4);
        assertThat(st.path("held_out_mean_bits_per_code").asDouble()).isCloseTo(s2.heldOutMeanBitsPerCode(),
                org.assertj.core.data.Offset.offset(1e-3));
        assertThat(state.path("stages").path("sample").path("status").asText()).isEqualTo("ran");
    }

    private static JsonNode state0() throws Exception {
        return new ObjectMapper().readTree(out.resolve("quickstart.json").toFile());
    }

    @Test
    void tokenTableHasOneRowPerImageOfEachSplit() throws Exception {
        Map<String, Long> expected = Map.of("train", 1720L, "validation", 186L);
        assertThat(first.rowsPerSplit()).isEqualTo(expected);
        TokenTable t = TokenTable.read(spark, out.resolve("tokens").toString());
        Map<String, Long> counted = new TreeMap<>();
        for (Row r : t.rows().groupBy("split").count().collectAsList()) {
            counted.put(r.getString(0), r.getLong(1));
        }
        assertThat(counted).isEqualTo(expected);
        assertThat(t.manifest().splits().get("train").rows()).isEqualTo(1720);
        assertThat(t.manifest().tokenizer().trainStep()).isEqualTo(4);
        assertThat(t.codeShape()).containsExactly(8, 8, 4);
        assertThat(t.manifest().hasLatents()).as("stage 2 with soft targets needs the latents").isTrue();
    }

    @Test
    void aRerunSkipsFinishedStagesAndRewritesTheReport() throws Exception {
        Path again = tmp.resolve("rerun");
        // a copy of the first run's folder, so the other tests keep theirs
        copyTree(out, again);
        Files.delete(again.resolve("report.html"));
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        QuickstartJob.Result r = QuickstartJob.run(spark, options(repo().resolve("data/emoji").toString(), again),
                new PrintStream(console, true, StandardCharsets.UTF_8));
        Map<String, Outcome.Status> status = r.stages().stream()
                .collect(Collectors.toMap(StageTimer.Stage::name, StageTimer.Stage::status));
        assertThat(status).containsEntry("train", Outcome.Status.SKIPPED)
                .containsEntry("tokenize", Outcome.Status.SKIPPED).containsEntry("decode", Outcome.Status.SKIPPED)
                .containsEntry("train-transformer", Outcome.Status.SKIPPED)
                .containsEntry("sample", Outcome.Status.SKIPPED).containsEntry("report", Outcome.Status.RAN);
        assertThat(r.psnr().mean()).isEqualTo(first.psnr().mean());
        assertThat(r.stage2().heldOutBitsPerCode()).containsExactly(first.stage2().heldOutBitsPerCode());
        assertThat(again.resolve("report.html")).exists();
        assertThat(Files.readString(again.resolve("report.html"))).contains("skipped");
        JsonNode state = new ObjectMapper().readTree(again.resolve("quickstart.json").toFile());
        assertThat(state.path("stages").path("tokenize").path("work_seconds").asDouble()).isGreaterThan(0);
    }

    @Test
    void aMissingSplitFailsTheIngestCheckClearly() throws Exception {
        Path data = tmp.resolve("no-data");
        Files.createDirectories(data.resolve("train"));
        assertThatThrownBy(() -> QuickstartJob.run(spark, options(data.toString(), tmp.resolve("qs-missing")),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)))
                .isInstanceOf(QuickstartJob.StageException.class)
                .hasMessageContaining("stage 'ingest'")
                .hasMessageContaining("dataset split 'train' is missing or incomplete");
        assertThat(tmp.resolve("qs-missing/train")).doesNotExist();
    }

    private static void copyTree(Path from, Path to) throws Exception {
        try (var s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path d = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(d);
                } else {
                    Files.copy(p, d);
                }
            }
        }
    }
}
