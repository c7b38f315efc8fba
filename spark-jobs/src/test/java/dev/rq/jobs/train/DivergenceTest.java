package dev.rq.jobs.train;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A rank stops at the first step whose loss or gradient norm is not finite ({@link RankTask#divergence}). */
class DivergenceTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void aNonFiniteLossOrGradientStopsTheRunNamingTheIntactCheckpoint(@TempDir Path tmp) throws Exception {
        RunDirectory run = new RunDirectory(tmp.toString(), new Configuration());
        Files.createDirectories(tmp.resolve("checkpoints/step-00000200"));
        Files.writeString(tmp.resolve("checkpoints/step-00000200/manifest.json"), "{}");
        assertThat(RankTask.divergence(JSON.createObjectNode().put("loss", 0.1).put("grad_norm", 2.0), 216, run))
                .isNull();
        assertThat(RankTask.divergence(JSON.createObjectNode().put("loss", 0.1).put("grad_norm", Double.NaN), 216,
                run)).contains("diverged at step 216").contains("gradient norm NaN").contains("step 200) is intact")
                .contains("train.lr").contains(tmp.toString()).doesNotContain("\n");
        assertThat(RankTask.divergence(JSON.createObjectNode().put("loss", Double.POSITIVE_INFINITY), 3,
                new RunDirectory(tmp.resolve("fresh").toString(), new Configuration())))
                .contains("loss Infinity").contains("none yet");
    }
}
