package dev.rq.jobs.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/**
 * The kill-and-resume harness of the crash tests ({@link DriverKillTest}, {@link
 * S3CheckpointKillTest}): {@code rq} in a child JVM that a fault injection may halt, and what a
 * resumed run is compared with its uninterrupted twin by (the final weights' SHA-256 and the logged
 * steps).
 */
final class KilledRuns {

    /** A loaded 2-core machine needs about 100 s per tiny run. */
    static final Duration RUN_TIMEOUT = Duration.ofSeconds(300);

    private KilledRuns() {}

    /** @return {@code target/<name>}, created: the child JVMs' logs */
    static Path logs(String name) throws IOException {
        return Files.createDirectories(Path.of("target", name).toAbsolutePath());
    }

    /**
     * Runs {@code rq args} in a child JVM (2 GiB heap, in the repository root) on {@code classpath}.
     *
     * @return its exit code (137 when a fault injection halted it); the child is killed after
     *     {@link #RUN_TIMEOUT}
     */
    static int rq(List<String> classpath, List<String> args, Path log) throws Exception {
        Process p = ChildJvm.start(ChildJvm.command("2g", "dev.rq.cli.RqCli", args, classpath), TrainRuns.repo(), log,
                Map.of());
        try {
            return ChildJvm.await(p, RUN_TIMEOUT, log);
        } finally {
            ChildJvm.kill(p);
        }
    }

    /** @return the run directory at a local path */
    static RunDirectory local(Path run) throws IOException {
        return new RunDirectory(run.toString(), new Configuration());
    }

    /** @return the weights SHA-256 that checkpoint {@code step} of {@code run} recorded */
    static String weightsSha(RunDirectory run, long step) throws IOException {
        try (InputStream in = run.fs().open(run.path(RunDirectory.CHECKPOINTS + "/" + RunDirectory.name(step)
                + "/trainer_state.json"))) {
            return new ObjectMapper().readTree(in).get("weights_sha256").asText();
        }
    }

    /** @return the steps of {@code run}'s logged metrics, in log order */
    static List<Long> steps(RunDirectory run) throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<Long> steps = new ArrayList<>();
        for (String line : run.metricsLines()) {
            steps.add(json.readTree(line).get("step").asLong());
        }
        return steps;
    }
}
