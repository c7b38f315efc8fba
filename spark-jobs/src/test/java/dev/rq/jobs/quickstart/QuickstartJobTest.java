package dev.rq.jobs.quickstart;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rq.jobs.SparkSessions;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
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
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The quickstart smoke test CI runs: the whole pipeline (ingest check, 2-rank training, tokenize,
 * decode, report) on the embedded emoji dataset with the tiny 16x16 model for 4 steps, on a real
 * local[2] session with the project's Spark settings; then a rerun into the same folder, which
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

    static QuickstartJob.Options options(String data, Path outDir) throws Exception {
        return QuickstartJob.Options.emoji(tinyConfig(), "conf/rqvae/tiny.yaml --max-steps 4", data,
                outDir.toString(), 2);
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
                .containsExactly("ingest", "train", "tokenize", "decode", "report");
        assertThat(first.stages()).extracting(StageTimer.Stage::status).containsOnly("ran");
        assertThat(first.trainSteps()).isEqualTo(4);
        assertThat(first.psnr().n()).isEqualTo(186);
        assertThat(first.psnr().mean()).isBetween(3.0, 60.0);

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
        assertThat(out.resolve("decode/index.html")).exists();

        JsonNode eval = new ObjectMapper().readTree(out.resolve("eval/eval.json").toFile());
        assertThat(eval.path("per_image")).hasSize(186);
        assertThat(eval.path("psnr").path("mean").asDouble()).isCloseTo(first.psnr().mean(),
                org.assertj.core.data.Offset.offset(1e-3));
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
        Map<String, String> status = r.stages().stream()
                .collect(Collectors.toMap(StageTimer.Stage::name, StageTimer.Stage::status));
        assertThat(status).containsEntry("train", "skipped").containsEntry("tokenize", "skipped")
                .containsEntry("decode", "skipped").containsEntry("report", "ran");
        assertThat(r.psnr().mean()).isEqualTo(first.psnr().mean());
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
