package dev.rq.pipelines.sidquickstart;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.sid.SidFixtures;
import dev.rq.jobs.sid.SidReport;
import dev.rq.model.config.SidRunConfig;
import dev.rq.model.sid.SyntheticItems;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code rq sid-quickstart} on a small synthetic item table with {@code conf/sid/tiny.yaml}: both methods, report, rerun. */
class SidQuickstartJobTest {

    private static SparkSession spark;
    @TempDir Path tmp;

    @BeforeAll
    static void start() {
        spark = SparkSessions.getOrCreate("test-sid-quickstart", 2);
    }

    @AfterAll
    static void stop() {
        spark.stop();
        dev.rq.executor.ExecutorModels.clear();
    }

    @Test
    void trainsBothMethodsAssignsAndReportsSideBySideThenSkipsOnRerun() throws Exception {
        String data = tmp.resolve("items").toString();
        SidFixtures.write(spark, SidFixtures.items(new SyntheticItems(3, 16, 12, 3, 0.25), 0, 500, 0), data, 2);
        Path conf = dev.rq.jobs.train.TrainRunsAccess.repo().resolve("conf/sid/tiny.yaml");
        SidRunConfig config = SidRunConfig.load(conf, List.of("train.max_steps=10", "kmeans.iterations=3"));
        Path out = tmp.resolve("qs");
        SidQuickstartJob.Options o = new SidQuickstartJob.Options(config, conf.toString(), data, out.toString(), 2,
                Duration.ofSeconds(60));
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        SidQuickstartJob.Result r = SidQuickstartJob.run(spark, o, new PrintStream(console, true, StandardCharsets.UTF_8));

        String html = Files.readString(out.resolve(SidReport.HTML));
        assertThat(html).contains("<th>rqvae</th>").contains("<th>rq-kmeans</th>").contains("unique-SID ratio")
                .contains("collision rate").contains("largest collision group").contains("reconstruction MSE")
                .contains("cosine similarity").contains("prefix purity, first 3 codes").contains("plots/sid-perplexity.png")
                .contains("train-rqvae/plots/loss.png");
        assertThat(out.resolve("plots/sid-perplexity.png")).exists();
        JsonNode json = new ObjectMapper().readTree(out.resolve(SidReport.JSON_FILE).toFile());
        for (String m : List.of("rqvae", "rq-kmeans")) {
            JsonNode s = json.path("methods").path(m);
            assertThat(s.path("counts").path("items").asLong()).as(m).isEqualTo(500);
            assertThat(s.path("statistics").path("perplexity")).as(m).hasSize(3);
            assertThat(s.path("statistics").path("prefix_purity")).as(m).hasSize(3);
            assertThat(s.path("collisions").path("unique_sid_ratio").asDouble()).as(m).isBetween(0.0, 1.0);
        }
        assertThat(json.path("methods").path("rqvae").path("training").path("steps").asLong()).isEqualTo(10);
        assertThat(r.stages()).containsKeys("items", "train rqvae", "train rq-kmeans", "assign rqvae",
                "assign rq-kmeans", "report");

        ByteArrayOutputStream again = new ByteArrayOutputStream();
        SidQuickstartJob.run(spark, o, new PrintStream(again, true, StandardCharsets.UTF_8));
        assertThat(again.toString(StandardCharsets.UTF_8)).contains("assign rqvae:").contains("is up to date");
    }
}
