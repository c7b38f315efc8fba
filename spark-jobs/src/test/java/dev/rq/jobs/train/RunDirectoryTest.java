package dev.rq.jobs.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.model.config.Configs;
import dev.rq.model.checkpoint.CheckpointDir;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.safetensors.HostTensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checkpoint commit and resume of {@link RunDirectory} without renames (the same code runs on
 * S3 and HDFS in {@code dev.rq.storage}), and the rolled metrics of {@link MetricsLog}.
 */
class RunDirectoryTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir Path tmp;

    RunDirectory run() throws IOException {
        return new RunDirectory(tmp.toString(), new Configuration());
    }

    /** Writes a small complete checkpoint of {@code step} the way rank 0 does. */
    static void save(RunDirectory run, long step, int keep) throws IOException {
        CheckpointDir dir = run.beginCheckpoint(step);
        float[] w = new float[1000];
        for (int i = 0; i < w.length; i++) {
            w[i] = step + i;
        }
        Checkpoints.write(dir, new Checkpoints.Contents("rqvae", JSON.readTree("{\"seed\":1}"), step, 1,
                Map.of("w", HostTensor.ofFloats(w, w.length)), Map.of("exp_avg.w", HostTensor.ofFloats(w, w.length)),
                JSON.readTree("{\"step\":" + step + "}")));
        run.commitCheckpoint(step, keep);
    }

    Path ckpt(long step) {
        return tmp.resolve("checkpoints").resolve(RunDirectory.name(step));
    }

    @Test
    void checkpointsAreWrittenInPlaceWithoutTemporaryFolders() throws Exception {
        RunDirectory run = run();
        save(run, 3, 5);
        save(run, 6, 5);
        try (Stream<Path> s = Files.list(tmp.resolve("checkpoints"))) {
            assertThat(s.map(p -> p.getFileName().toString()).sorted()).containsExactly("step-00000003",
                    "step-00000006");
        }
        assertThat(run.completeSteps()).containsExactly(6L, 3L);
        assertThat(run.latest()).get().extracting(CheckpointDir::uri).asString().endsWith("step-00000006");
        run.verify(6);
        assertThat(Checkpoints.read(run.checkpoint(6)).manifest().step()).isEqualTo(6);
    }

    @Test
    void tornCheckpointsAreSkippedAndNamed() throws Exception {
        RunDirectory run = run();
        save(run, 3, 5);
        save(run, 6, 5);
        save(run, 9, 5);
        // 9: the writer died before the manifest (the commit)
        Files.delete(ckpt(9).resolve("manifest.json"));
        // 6: a file shorter than its manifest says (a truncated copy)
        byte[] opt = Files.readAllBytes(ckpt(6).resolve("optimizer.safetensors"));
        Files.write(ckpt(6).resolve("optimizer.safetensors"), java.util.Arrays.copyOf(opt, opt.length / 2));
        Files.deleteIfExists(ckpt(6).resolve(".optimizer.safetensors.crc"));
        assertThat(run.tornReason(9)).contains("no manifest.json");
        assertThat(run.tornReason(6)).contains("optimizer.safetensors has").contains("the manifest says");
        assertThat(run.completeSteps()).containsExactly(3L);
        assertThat(run.committedSteps()).containsExactly(3L, 6L); // manifests present (not verified)
        assertThat(run.latest()).get().extracting(CheckpointDir::uri).asString().endsWith("step-00000003");

        // a missing file listed by the manifest
        Files.delete(ckpt(3).resolve("trainer_state.json"));
        assertThat(run.tornReason(3)).isEqualTo("trainer_state.json is missing");
        assertThat(run.latest()).isEmpty();
    }

    @Test
    void alteredBytesAreFoundByTheStreamingVerification() throws Exception {
        RunDirectory run = run();
        save(run, 3, 5);
        Path model = ckpt(3).resolve("model.safetensors");
        byte[] b = Files.readAllBytes(model);
        b[b.length - 1] ^= 1; // same size: the listing check cannot see it
        Files.write(model, b);
        Files.deleteIfExists(ckpt(3).resolve(".model.safetensors.crc"));
        assertThat(run.completeSteps()).containsExactly(3L);
        assertThatThrownBy(() -> run.verify(3)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("SHA-256 of model.safetensors");
        assertThatThrownBy(() -> Checkpoints.read(run.checkpoint(3))).isInstanceOf(CheckpointException.class);
    }

    @Test
    void commitPrunesOldAndTornCheckpointsAndRewritesAStep() throws Exception {
        RunDirectory run = run();
        save(run, 2, 2);
        save(run, 4, 2);
        Files.delete(ckpt(4).resolve("manifest.json")); // torn, older than the next commit
        save(run, 6, 2);
        assertThat(run.completeSteps()).containsExactly(6L, 2L);
        save(run, 8, 2);
        assertThat(ckpt(2)).doesNotExist();
        assertThat(ckpt(4)).doesNotExist();
        assertThat(run.completeSteps()).containsExactly(8L, 6L);
        // a torn leftover newer than the resume point survives the commit and is rewritten later
        Files.createDirectories(ckpt(10));
        Files.writeString(ckpt(10).resolve("model.safetensors"), "half");
        save(run, 8, 2);
        assertThat(ckpt(10)).exists();
        save(run, 10, 2);
        assertThat(run.completeSteps()).containsExactly(10L, 8L);
        run.verify(10);
        // an incomplete checkpoint is never committed
        run.beginCheckpoint(12);
        assertThatThrownBy(() -> run.commitCheckpoint(12, 2)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("not committed");
    }

    @Test
    void claimWritesTheResolvedConfigOnceAndRefusesAnotherConfig() throws Exception {
        RunDirectory run = run();
        assertThat(run.claim("rqvae", "a".repeat(64), JSON.readTree("{\"train\":{\"lr\":0.001}}"))).isFalse();
        assertThat(Files.readString(tmp.resolve("config.yaml"))).contains("train:").contains("lr: 0.001");
        assertThat(run.claim("rqvae", "a".repeat(64), JSON.readTree("{\"train\":{\"lr\":0.001}}"))).isTrue();
        assertThatThrownBy(() -> run.claim("rqvae", "b".repeat(64), JSON.readTree("{}")))
                .hasMessageContaining("different configuration");
    }

    @Test
    void aStoredConfigThatReResolvesToTheCommandsResumesAndADifferenceIsNamed() throws Exception {
        RunDirectory run = run();
        JsonNode old = JSON.readTree("{\"train\":{\"lr\":0.001,\"steps\":10}}");
        run.claim("rqvae", Configs.hash(old), old);
        // this version added train.bucket (default 25): the stored config re-resolves to it
        java.util.function.UnaryOperator<JsonNode> resolve = t -> {
            if (t.path("train").has("bogus")) {
                throw new dev.rq.model.config.ConfigException("train.bogus", "unknown key");
            }
            ObjectNode train = (ObjectNode) t.get("train");
            if (!train.has("bucket")) {
                train.put("bucket", 25.0);
            }
            return t;
        };
        JsonNode now = JSON.readTree("{\"train\":{\"lr\":0.001,\"steps\":10,\"bucket\":25.0}}");
        List<String> infos = captureInfo(() -> {
            assertThat(run.claim("rqvae", Configs.hash(now), now, resolve)).isTrue();
            // a second claim of the same run in this JVM (train-sid's stage, then TrainingJob) says it once
            assertThat(run().claim("rqvae", Configs.hash(now), now, resolve)).isTrue();
        });
        assertThat(infos).filteredOn(m -> m.contains("older rq version")).hasSize(1)
                .allMatch(m -> m.contains("train.bucket=25.0"));
        assertThat(JSON.readTree(tmp.resolve("run.json").toFile()).get("config_hash").asText())
                .isEqualTo(Configs.hash(old));
        // without the re-resolution the hashes differ
        assertThatThrownBy(() -> run.claim("rqvae", Configs.hash(now), now)).hasMessageContaining("different");
        JsonNode other = JSON.readTree("{\"train\":{\"lr\":0.002,\"steps\":11,\"bucket\":4.0}}");
        assertThatThrownBy(() -> run.claim("rqvae", Configs.hash(other), other, resolve))
                .isInstanceOf(RunConflictException.class)
                .hasMessageContaining("train.bucket: not in the stored config (default 25.0) → 4.0; train.lr: 0.001 → 0.002;"
                        + " train.steps: 10 → 11");
        assertThatThrownBy(() -> run.claim("rqvae", Configs.hash(now), now, t -> {
            throw new dev.rq.model.config.ConfigException("train.steps", "unknown key");
        })).hasMessageContaining("does not resolve with this version: train.steps");
        assertThatThrownBy(() -> run.claim("rqtransformer", Configs.hash(now), now, resolve))
                .hasMessageContaining("it is a rqvae run, this command trains rqtransformer");
    }

    /** Runs {@code body} and returns the INFO messages {@link RunDirectory} logged meanwhile. */
    static List<String> captureInfo(ThrowingRunnable body) throws Exception {
        List<String> messages = java.util.Collections.synchronizedList(new ArrayList<>());
        org.apache.logging.log4j.core.appender.AbstractAppender capture =
                new org.apache.logging.log4j.core.appender.AbstractAppender("run-directory-capture", null, null, true,
                        org.apache.logging.log4j.core.config.Property.EMPTY_ARRAY) {
                    @Override
                    public void append(org.apache.logging.log4j.core.LogEvent event) {
                        messages.add(event.getMessage().getFormattedMessage());
                    }
                };
        capture.start();
        org.apache.logging.log4j.core.Logger logger = (org.apache.logging.log4j.core.Logger)
                org.apache.logging.log4j.LogManager.getLogger(RunDirectory.class);
        org.apache.logging.log4j.Level level = logger.getLevel();
        logger.addAppender(capture);
        logger.setLevel(org.apache.logging.log4j.Level.INFO);
        try {
            body.run();
        } finally {
            logger.removeAppender(capture);
            logger.setLevel(level);
            capture.stop();
        }
        return messages;
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    static String line(long step) {
        return "{\"event\":\"step\",\"step\":" + step + ",\"loss\":" + (1.0 / step) + "}";
    }

    @Test
    void metricsAreRolledIntoPartsAndTruncatedOnResume() throws Exception {
        RunDirectory run = run();
        try (MetricsLog log = new MetricsLog(run, 0)) {
            for (long s = 1; s <= 4; s++) {
                log.append(s, line(s));
            }
            assertThat(run.metricsLines()).as("nothing visible before a roll").isEmpty();
            log.roll(); // a checkpoint at step 4
            assertThat(run.metricsLines()).hasSize(4);
            for (long s = 5; s <= 7; s++) {
                log.append(s, line(s));
            }
        } // closed: rolled
        try (Stream<Path> s = Files.list(tmp.resolve("metrics"))) {
            assertThat(s.map(p -> p.getFileName().toString()).filter(n -> !n.endsWith(".crc")).sorted())
                    .containsExactly("steps-00000001-00000004.jsonl", "steps-00000005-00000007.jsonl");
        }
        // resubmitted from the checkpoint of step 5: steps 6, 7 are dropped, 5 kept
        try (MetricsLog log = new MetricsLog(run, 5)) {
            List<Long> steps = steps(run);
            assertThat(steps).containsExactly(1L, 2L, 3L, 4L, 5L);
            log.append(6, line(6));
        }
        assertThat(steps(run)).containsExactly(1L, 2L, 3L, 4L, 5L, 6L);
        // from step 2: a part that straddles it is rewritten
        new MetricsLog(run, 2).close();
        assertThat(steps(run)).containsExactly(1L, 2L);
        // a legacy metrics.jsonl (runs before the parts) is read first and truncated too
        Files.writeString(tmp.resolve("metrics.jsonl"), line(1) + "\n" + line(2) + "\n");
        assertThat(steps(run)).containsExactly(1L, 2L);
    }

    static List<Long> steps(RunDirectory run) throws IOException {
        List<Long> out = new ArrayList<>();
        for (String l : run.metricsLines()) {
            out.add(JSON.readTree(l).path("step").asLong());
        }
        return out;
    }
}
