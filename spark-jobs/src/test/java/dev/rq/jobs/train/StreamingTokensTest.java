package dev.rq.jobs.train;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rq.jobs.tokenize.TokenFixtures;
import dev.rq.tables.TestTokenTables;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Stage 2 streams its token table: a child JVM whose heap ({@value #HEAP}) is smaller than the
 * table's latents trains the tiny RQ-Transformer on it with soft targets ({@code rq
 * train-transformer}), and reads the whole table once with {@code rq bench-loader --tokens}
 * within its heap. (The old loader held a split in every rank's heap and could not start.)
 */
class StreamingTokensTest {

    static final String HEAP = "192m";
    static final long HEAP_BYTES = 192L << 20;
    static final int ROWS = 110_000; // 8·8·16 float16 latents = 2 KiB a row: 215 MiB

    @TempDir static Path tmp;
    static Path vae;
    static Path table;
    static List<String> classpath;

    @BeforeAll
    static void write() throws Exception {
        vae = TokenFixtures.tinyCheckpoint(tmp.resolve("vae"), 5);
        String sha = TokenFixtures.codebookSha256(vae);
        table = tmp.resolve("tokens");
        long t0 = System.nanoTime();
        TestTokenTables.write(table, "train", ROWS, new int[] {8, 8, 4}, 32, new int[] {8, 8, 16}, sha, 512L << 10, 6,
                11);
        System.out.printf("wrote %d token rows in %.1f s%n", ROWS, (System.nanoTime() - t0) / 1e9);
        classpath = ChildJvm.snapshotClasspath(tmp.resolve("classpath"));
    }

    static int rq(List<String> args, Path log) throws Exception {
        // Spark refuses heaps under 450 MiB unless told the memory to plan with
        Process p = ChildJvm.start(ChildJvm.command(HEAP, "dev.rq.cli.RqCli", args, classpath), TrainRuns.repo(), log,
                Map.of("JAVA_TOOL_OPTIONS", "-Dspark.testing.memory=" + (512L << 20)));
        try {
            return ChildJvm.await(p, Duration.ofSeconds(240), log);
        } finally {
            ChildJvm.kill(p);
        }
    }

    @Test
    void trainsOnATableWhoseLatentsAreLargerThanTheHeap() throws Exception {
        long latentBytes = (long) ROWS * 8 * 8 * 16 * 2;
        assertThat(latentBytes).isGreaterThan(HEAP_BYTES);
        Path run = tmp.resolve("run");
        Path log = tmp.resolve("train.log");
        int rc = rq(List.of("train-transformer", "--conf", "conf/rqtransformer/tiny.yaml", "--tokens",
                table.toString(), "--vae", vae.toString(), "--out", run.toString(), "--workers", "1",
                "--max-steps", "4", "--held-out", "none", "--set", "train.checkpoint_every=0",
                "--set", "data.cache_mb=48", "--set", "data.shuffle_window=256"), log);
        assertThat(rc).as("train-transformer in -Xmx%s; log:%n%s", HEAP, ChildJvm.tail(log, 60)).isZero();
        assertThat(run.resolve("checkpoints/step-00000004/manifest.json")).exists();
        assertThat(String.join("\n", TrainRuns.metrics(run))).contains("\"step\":4");
    }

    @Test
    void benchLoaderReadsTheWholeTableOnceWithinTheHeap() throws Exception {
        Path json = tmp.resolve("bench.json");
        Path log = tmp.resolve("bench.log");
        int rc = rq(List.of("bench-loader", "--tokens", "--data", table.toString(), "--split", "train",
                "--workers", "1", "--epochs", "1", "--batch-size", "256", "--set", "data.cache_mb=48",
                "--set", "data.shuffle_window=256", "--json", json.toString()), log);
        assertThat(rc).as("bench-loader in -Xmx%s; log:%n%s", HEAP, ChildJvm.tail(log, 60)).isZero();
        JsonNode r = new ObjectMapper().readTree(json.toFile());
        System.out.println("bench-loader --tokens: " + r);
        long steps = ROWS / 8 / (256 / 8);
        assertThat(r.get("samples").asLong()).isEqualTo(steps * 256);
        assertThat(r.get("read_amplification").asDouble()).isBetween(0.9, 1.1);
        assertThat(r.get("peak_heap_mb").asDouble()).isLessThan(192).isGreaterThan(0);
        assertThat(r.get("peak_cache_mb").asDouble()).isLessThanOrEqualTo(48 * 1.1);
    }
}
