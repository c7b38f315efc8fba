package dev.rq.jobs.train;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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

    @Test
    void aKilledDriverIsResumedByRerunningTheCommandBitIdentically() throws Exception {
        Path reference = tmp.resolve("reference");
        Path killed = tmp.resolve("killed");
        String fault = "exit:0:5";
        // all three runs execute the same code even if other builds replace target/classes meanwhile
        List<String> cp = ChildJvm.snapshotClasspath(tmp.resolve("classpath"));
        Path logs = KilledRuns.logs("driver-kill-test");

        long t0 = System.nanoTime();
        int ref = KilledRuns.rq(cp, trainVae(reference), logs.resolve("reference.log"));
        assertThat(ref).as("uninterrupted run exit code; log:%n%s", ChildJvm.tail(logs.resolve("reference.log"), 40))
                .isZero();
        long t1 = System.nanoTime();

        Path log1 = logs.resolve("killed-1.log");
        int first = KilledRuns.rq(cp, trainVae(killed, "--fault-injection", fault), log1);
        long t2 = System.nanoTime();
        assertThat(first).as("the driver halts with 137 at step 5; log:%n%s", ChildJvm.tail(log1, 40)).isEqualTo(137);
        assertThat(killed.resolve("_fault_injected_exit_0_5")).exists();
        assertThat(killed.resolve("checkpoints/step-00000003/manifest.json")).as("step-3 checkpoint").exists();
        assertThat(killed.resolve("checkpoints/step-00000006")).as("died before step 6").doesNotExist();

        Path log2 = logs.resolve("killed-2.log");
        int second = KilledRuns.rq(cp, trainVae(killed, "--fault-injection", fault), log2);
        long t3 = System.nanoTime();
        assertThat(second).as("the identical command resumes and completes; log:%n%s", ChildJvm.tail(log2, 40))
                .isZero();
        assertThat(Files.readString(log2)).contains("checkpoints/step-00000003"); // resumed, not restarted

        String expected = KilledRuns.weightsSha(KilledRuns.local(reference), 6);
        assertThat(expected).matches("[0-9a-f]{64}");
        assertThat(KilledRuns.weightsSha(KilledRuns.local(killed), 6)).isEqualTo(expected);
        assertThat(Files.readString(log2)).contains("weights sha256: " + expected);
        // the metrics log each step once, as in the uninterrupted run
        assertThat(KilledRuns.steps(KilledRuns.local(killed))).isNotEmpty()
                .isEqualTo(KilledRuns.steps(KilledRuns.local(reference)));
        System.out.printf("DriverKillTest: uninterrupted %.1f s, killed %.1f s, resumed %.1f s%n",
                (t1 - t0) / 1e9, (t2 - t1) / 1e9, (t3 - t2) / 1e9);
    }
}
