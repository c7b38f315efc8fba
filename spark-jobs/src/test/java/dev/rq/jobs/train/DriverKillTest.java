package dev.rq.jobs.train;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The driver dies mid-run ({@code rq train-vae} in local mode runs its ranks inside the driver JVM,
 * so {@code --fault-injection exit:0:5} halts the whole process with status 137, like a
 * {@code kill -9}): rerunning the identical command resumes from the last committed checkpoint
 * (step 3) and ends with weights bit-identical to an uninterrupted run of the same command line.
 * Every run is a separate {@code java ... dev.rq.cli.RqCli} process.
 */
class DriverKillTest {

    static final Duration RUN_TIMEOUT = Duration.ofSeconds(300); // a loaded 2-core machine needs ~100 s per run

    @TempDir Path tmp;

    /** The CLI arguments of the test (relative paths: the child runs in the repository root). */
    static List<String> trainVae(Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("train-vae", "--conf", "conf/rqvae/tiny.yaml",
                "--data", "data/emoji/train", "--out", out.toString(), "--workers", "2",
                "--max-steps", "6", "--checkpoint-every", "3",
                "--set", "train.batch_size=8", "--set", "data.decode_threads=1"));
        a.addAll(List.of(extra));
        return a;
    }

    static Path logs() throws IOException {
        return Files.createDirectories(Path.of("target", "driver-kill-test").toAbsolutePath());
    }

    /** Runs the CLI in a child JVM; @return its exit code (the child is killed after {@link #RUN_TIMEOUT}) */
    static int rq(List<String> classpath, List<String> args, Path log) throws Exception {
        Process p = ChildJvm.start(ChildJvm.command("2g", "dev.rq.cli.RqCli", args, classpath), TrainRuns.repo(), log,
                Map.of());
        try {
            return ChildJvm.await(p, RUN_TIMEOUT, log);
        } finally {
            ChildJvm.kill(p);
        }
    }

    static String weightsSha(Path run, long step) throws IOException {
        Path state = run.resolve("checkpoints").resolve(RunDirectory.name(step)).resolve("trainer_state.json");
        return new ObjectMapper().readTree(state.toFile()).get("weights_sha256").asText();
    }

    static List<Long> steps(Path run) throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<Long> steps = new ArrayList<>();
        for (String line : TrainRuns.metrics(run)) {
            steps.add(json.readTree(line).get("step").asLong());
        }
        return steps;
    }

    @Test
    void aKilledDriverIsResumedByRerunningTheCommandBitIdentically() throws Exception {
        Path reference = tmp.resolve("reference");
        Path killed = tmp.resolve("killed");
        String fault = "exit:0:5";
        // all three runs execute the same code even if other builds replace target/classes meanwhile
        List<String> cp = ChildJvm.snapshotClasspath(tmp.resolve("classpath"));

        long t0 = System.nanoTime();
        int ref = rq(cp, trainVae(reference), logs().resolve("reference.log"));
        assertThat(ref).as("uninterrupted run exit code; log:%n%s", ChildJvm.tail(logs().resolve("reference.log"), 40))
                .isZero();
        long t1 = System.nanoTime();

        Path log1 = logs().resolve("killed-1.log");
        int first = rq(cp, trainVae(killed, "--fault-injection", fault), log1);
        long t2 = System.nanoTime();
        assertThat(first).as("the driver halts with 137 at step 5; log:%n%s", ChildJvm.tail(log1, 40)).isEqualTo(137);
        assertThat(killed.resolve("_fault_injected_exit_0_5")).exists();
        assertThat(killed.resolve("checkpoints/step-00000003/manifest.json")).as("step-3 checkpoint").exists();
        assertThat(killed.resolve("checkpoints/step-00000006")).as("died before step 6").doesNotExist();

        Path log2 = logs().resolve("killed-2.log");
        int second = rq(cp, trainVae(killed, "--fault-injection", fault), log2);
        long t3 = System.nanoTime();
        assertThat(second).as("the identical command resumes and completes; log:%n%s", ChildJvm.tail(log2, 40))
                .isZero();
        assertThat(Files.readString(log2)).contains("checkpoints/step-00000003"); // resumed, not restarted

        String expected = weightsSha(reference, 6);
        assertThat(expected).matches("[0-9a-f]{64}");
        assertThat(weightsSha(killed, 6)).isEqualTo(expected);
        assertThat(Files.readString(log2)).contains("weights sha256: " + expected);
        // the metrics log each step once, as in the uninterrupted run
        assertThat(steps(killed)).isNotEmpty().isEqualTo(steps(reference));
        System.out.printf("DriverKillTest: uninterrupted %.1f s, killed %.1f s, resumed %.1f s%n",
                (t1 - t0) / 1e9, (t2 - t1) / 1e9, (t3 - t2) / 1e9);
    }
}
