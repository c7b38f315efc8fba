package dev.rq.jobs.sid;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rq.io.StagedOutput;
import dev.rq.jobs.SparkSessions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code rq sid-items}: the item table is a staged output (marker last) that any Parquet reader reads. */
class ItemTablesJobTest {

    @TempDir
    static Path tmp;

    private static SparkSession spark;

    @BeforeAll
    static void start() {
        spark = SparkSessions.getOrCreate("test-sid-items", 2);
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
    }

    @Test
    void aSyntheticTableIsCommittedWithItsFileListAndReadByParquetReaders() throws Exception {
        String out = tmp.resolve("items").toString();
        assertThat(ItemTablesJob.synthetic(spark, 1000, 8, 4, 7, 3, out)).isEqualTo(1000);

        JsonNode marker = new ObjectMapper().readTree(tmp.resolve("items").resolve(ItemTablesJob.MARKER).toFile());
        assertThat(marker.path("items").asLong()).isEqualTo(1000);
        assertThat(marker.path("files")).hasSize(3);
        assertThat(tmp.resolve("items").resolve(StagedOutput.OWNER_FILE)).exists();

        Dataset<Row> items = spark.read().parquet(out);
        assertThat(items.schema().simpleString()).isEqualTo(ItemTablesJob.SCHEMA.simpleString());
        assertThat(items.count()).isEqualTo(1000);
        assertThat(items.select("item_id").distinct().count()).isEqualTo(1000);
        Row first = items.where("item_id = 0").first();
        List<Float> e = first.getList(1);
        assertThat(e).hasSize(8);
        double norm = e.stream().mapToDouble(f -> f * f).sum();
        assertThat(norm).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5)); // L2-normalised

        // an existing --out is refused, and stays as it was
        assertThatThrownBy(() -> ItemTablesJob.synthetic(spark, 10, 8, 4, 7, 1, out))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("exists");
        assertThat(spark.read().parquet(out).count()).isEqualTo(1000);
        try (var files = Files.list(tmp.resolve("items"))) {
            assertThat(files.map(f -> f.getFileName().toString()).filter(f -> f.endsWith(".parquet")).toList())
                    .hasSize(3);
        }
    }
}
