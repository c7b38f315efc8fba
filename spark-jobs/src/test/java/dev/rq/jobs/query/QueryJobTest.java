package dev.rq.jobs.query;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rq.executor.ExecutorModels;
import dev.rq.jobs.tokenize.TokenFixtures;
import dev.rq.jobs.tokenize.TokenizeJob;
import dev.rq.tables.Variant;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link QueryJob}: Spark SQL over a token table, a dataset split and a run's metrics (a folder of JSON
 * lines), as CSV and JSON.
 */
class QueryJobTest {

    @TempDir static Path tmp;
    static SparkSession spark;
    static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void setUp() throws Exception {
        spark = TokenFixtures.spark("QueryJobTest");
        Path ckpt = TokenFixtures.tinyCheckpoint(tmp.resolve("ckpt"), 5);
        TokenizeJob.run(spark, new TokenizeJob.Options(ckpt.toString(), TokenFixtures.emojiValidation(),
                tmp.resolve("tokens").toString(), List.of(Variant.CENTER), 16, List.of(), false, 1, 0));
        // a run's metrics folder: rolled parts of JSON lines (MetricsLog)
        Path metrics = Files.createDirectories(tmp.resolve("run/metrics"));
        Files.writeString(metrics.resolve("steps-00000001-00000001.jsonl"),
                "{\"step\":1,\"loss\":0.5,\"perplexity\":[3.0,4.0]}\n");
        Files.writeString(metrics.resolve("steps-00000002-00000002.jsonl"),
                "{\"step\":2,\"loss\":0.25,\"perplexity\":[5.0,6.0]}\n");
        QueryJob.register(spark, List.of(new QueryJob.Table("t", tmp.resolve("tokens").toString()),
                new QueryJob.Table("ds", TokenFixtures.emojiValidation()),
                new QueryJob.Table("m", tmp.resolve("run/metrics").toString())));
    }

    @AfterAll
    static void tearDown() {
        spark.stop();
        ExecutorModels.clear();
    }

    static List<String> csv(String sql) throws Exception {
        StringWriter w = new StringWriter();
        long n = QueryJob.run(spark, sql, QueryJob.Format.CSV, 0, w);
        List<String> lines = w.toString().lines().toList();
        assertThat(lines).hasSize((int) n + 1);
        return lines;
    }

    @Test
    void perDepthCodeUsageOfATokenTable() throws Exception {
        // codes are stored in (h, w, d) order: depth = position mod D
        List<String> lines = csv("SELECT pos % 4 AS depth, count(*) AS n, count(DISTINCT code) AS used"
                + " FROM t LATERAL VIEW posexplode(codes) c AS pos, code GROUP BY 1 ORDER BY 1");
        assertThat(lines.get(0)).isEqualTo("depth,n,used");
        assertThat(lines).hasSize(5);
        for (int d = 0; d < 4; d++) {
            String[] f = lines.get(1 + d).split(",");
            assertThat(f[0]).isEqualTo(Integer.toString(d));
            assertThat(Long.parseLong(f[1])).isEqualTo(186L * 64); // 186 images x 8x8 positions
            assertThat(Integer.parseInt(f[2])).isBetween(1, 32);
        }
    }

    @Test
    void arraysAreJsonTextInQuotedCellsAndJsonLinesKeepTypes() throws Exception {
        List<String> lines = csv("SELECT id, codes, 'a,\"b\"' AS s FROM t ORDER BY id LIMIT 2");
        assertThat(lines.get(0)).isEqualTo("id,codes,s");
        assertThat(lines.get(1)).matches("[^,]+,\"\\[\\d+(,\\d+){255}\\]\",\"a,\"\"b\"\"\"");
        StringWriter w = new StringWriter();
        assertThat(QueryJob.run(spark, "SELECT id, label, codes FROM t ORDER BY id", QueryJob.Format.JSON, 3, w))
                .isEqualTo(3);
        JsonNode first = JSON.readTree(w.toString().lines().findFirst().orElseThrow());
        assertThat(first.path("codes").size()).isEqualTo(256);
        assertThat(first.path("label").isIntegralNumber()).isTrue();
    }

    @Test
    void aDatasetSplitAndMetricsLines() throws Exception {
        JsonNode info = JSON.readTree(Path.of(TokenFixtures.emojiValidation(), "_dataset_info.json").toFile());
        List<String> lines = csv("SELECT label, count(*) AS n FROM ds GROUP BY label ORDER BY label");
        for (String l : lines.subList(1, lines.size())) {
            String[] f = l.split(",");
            assertThat(Long.parseLong(f[1])).isEqualTo(info.path("countsPerLabel").path(f[0]).asLong());
        }
        assertThat(csv("SELECT max(step) AS s, min(loss) AS l, max(perplexity[1]) AS p FROM m"))
                .containsExactly("s,l,p", "2,0.25,6.0");
    }

    @Test
    void badTablesAndQueriesAreUserErrors() {
        assertThatThrownBy(() -> QueryJob.Table.parse("tokens")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("NAME=URI");
        assertThatThrownBy(() -> QueryJob.Table.parse("1x=/a")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("not a table name");
        assertThatThrownBy(() -> QueryJob.register(spark, List.of(new QueryJob.Table("x",
                tmp.resolve("nope").toString())))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("does not exist");
        assertThatThrownBy(() -> csv("SELECT nope FROM t")).hasMessageContaining("nope");
    }
}
