package dev.rq.jobs.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import dev.rq.jobs.SparkSessions;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.checkpoint.LocalDir;
import dev.rq.model.config.ConfigException;
import dev.rq.model.engine.Engines;
import dev.rq.model.loss.Lpips;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.vae.VaeCheckpoint;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * train-vae with the official stage-1 objective (LPIPS with random weights, the patch GAN) on a
 * real local[2] Spark session: N = 2 with an injected rank failure (resume from the step-3
 * checkpoint) is bit-identical to an uninterrupted N = 1 run, the RQ-VAE, the discriminator and
 * its optimizer included; the GAN metrics are logged and plotted; a config asking for LPIPS
 * without weights fails before any cluster work.
 */
class TrainVaeGanJobTest {

    static SparkSession spark;
    @TempDir static Path tmp;
    static String lpipsUri;

    @BeforeAll
    static void start() throws Exception {
        spark = SparkSessions.getOrCreate("test", 2);
        Path file = tmp.resolve("lpips-random.safetensors");
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager(); Lpips l = Lpips.random(m, 3);
                OutputStream out = Files.newOutputStream(file)) {
            SafeTensors.write(l.params().tensors(), Map.of(), out);
        }
        lpipsUri = file.toUri().toString();
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    static String[] gan(String... extra) {
        List<String> o = new java.util.ArrayList<>(List.of("gan.disc.arch.ndf=8", "gan.loss.disc_start=0",
                "gan.loss.perceptual_weights=" + lpipsUri));
        o.addAll(List.of(extra));
        return o.toArray(new String[0]);
    }

    @Test
    void ganRunsAreExactAcrossWorkersAndFailures() throws Exception {
        Path one = tmp.resolve("n1");
        Path two = tmp.resolve("n2-fault");
        TrainRuns.train(spark, TrainRuns.config(gan()), one, 1, null, Duration.ofSeconds(120));
        TrainingJob.Result r = TrainRuns.train(spark, TrainRuns.config(gan()), two, 2, "throw:1:5",
                Duration.ofSeconds(120));
        assertThat(r.submissions()).as("the injected failure forced a resume").isGreaterThan(1);
        Map<String, HostTensor> w1 = TrainRuns.finalWeights(one);
        Map<String, HostTensor> w2 = TrainRuns.finalWeights(two);
        for (String k : w1.keySet()) {
            assertThat(w2.get(k).data()).as("%s bit-identical", k).isEqualTo(w1.get(k).data());
        }
        for (String file : List.of(VaeCheckpoint.DISCRIMINATOR, VaeCheckpoint.DISCRIMINATOR_OPTIMIZER,
                Checkpoints.OPTIMIZER)) {
            Map<String, HostTensor> a = tensors(one, file);
            Map<String, HostTensor> b = tensors(two, file);
            assertThat(a).as(file).isNotEmpty();
            assertThat(b.keySet()).as(file).containsExactlyElementsOf(a.keySet());
            for (String k : a.keySet()) {
                assertThat(b.get(k).data()).as("%s %s bit-identical", file, k).isEqualTo(a.get(k).data());
            }
        }
        assertThat(tensors(one, VaeCheckpoint.DISCRIMINATOR).get("main.3.num_batches_tracked").toLongs())
                .containsExactly(3L * TrainRuns.STEPS);
        List<String> metrics = TrainRuns.metrics(one);
        assertThat(metrics).hasSize(TrainRuns.STEPS);
        assertThat(metrics.get(0)).contains("\"perceptual_loss\"", "\"gen_loss\"", "\"disc_loss\"",
                "\"adaptive_weight\"", "\"disc_active\":true");
        List<String> metrics2 = TrainRuns.metrics(two);
        assertThat(metrics2).hasSize(TrainRuns.STEPS);
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        for (int i = 0; i < metrics.size(); i++) {
            var a = json.readTree(metrics.get(i));
            var b = json.readTree(metrics2.get(i));
            for (String k : List.of("loss", "perceptual_loss", "gen_loss", "disc_loss", "adaptive_weight")) {
                assertThat(b.get(k).asDouble()).as("step %d %s", i + 1, k).isEqualTo(a.get(k).asDouble());
            }
        }
        assertThat(one.resolve("plots/gan.png")).exists();
    }

    @Test
    void lpipsWithoutWeightsFailsBeforeClusterWorkNamingTheKey() throws Exception {
        Path run = tmp.resolve("no-weights");
        assertThatThrownBy(() -> TrainRuns.train(spark,
                TrainRuns.config("gan.loss.perceptual_weight=1.0"), run, 1, null, Duration.ofSeconds(60)))
                .isInstanceOf(ConfigException.class).hasMessageContaining("gan.loss.perceptual_weights");
        assertThat(run.resolve("run.json")).doesNotExist();
        Path missing = tmp.resolve("missing.safetensors");
        assertThatThrownBy(() -> TrainRuns.train(spark,
                TrainRuns.config("gan.loss.perceptual_weights=" + missing.toUri()), run, 1, null,
                Duration.ofSeconds(60)))
                .isInstanceOf(ConfigException.class).hasMessageContaining("gan.loss.perceptual_weights")
                .hasMessageContaining("is not a file");
        assertThat(run.resolve("run.json")).doesNotExist();
    }

    static Map<String, HostTensor> tensors(Path run, String file) throws Exception {
        Checkpoints.Loaded c = Checkpoints.open(new LocalDir(run.resolve("checkpoints").resolve(
                RunDirectory.name(TrainRuns.STEPS))));
        Map<String, HostTensor> out = new java.util.LinkedHashMap<>();
        c.tensorSource(file).read(new dev.rq.model.safetensors.TensorSource.Reader() {
            @Override
            public java.util.function.Predicate<String> begin(SafeTensors.Header header) {
                return k -> true;
            }

            @Override
            public void tensor(String name, HostTensor t) {
                out.put(name, t);
            }
        });
        return out;
    }
}
