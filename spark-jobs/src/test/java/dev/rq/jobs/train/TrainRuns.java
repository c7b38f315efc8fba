package dev.rq.jobs.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import dev.rq.model.checkpoint.LocalDir;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.vae.RqVae;
import dev.rq.model.vae.VaeCheckpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SparkSession;

/** Shared settings and helpers of the training-job tests. */
final class TrainRuns {

    static final int STEPS = 6;

    private TrainRuns() {}

    static Path repo() {
        String p = System.getProperty("rq.repo.dir");
        Path dir = p != null ? Path.of(p) : Path.of("").toAbsolutePath();
        while (dir != null && !Files.isDirectory(dir.resolve("conf"))) {
            dir = dir.getParent();
        }
        return dir;
    }

    static String data() {
        return repo().resolve("data/emoji/train").toString();
    }

    /** The tiny config with a global batch of 8 for {@link #STEPS} steps, checkpoints every 3. */
    static List<String> overrides(String... extra) {
        List<String> s = new ArrayList<>(List.of("train.batch_size=8", "train.max_steps=" + STEPS,
                "train.checkpoint_every=3", "train.log_every=1", "data.decode_threads=1"));
        s.addAll(List.of(extra));
        return s;
    }

    static RqVaeRunConfig config(String... extra) throws IOException {
        return Configs.loadRqVae(repo().resolve("conf/rqvae/tiny.yaml"), overrides(extra));
    }

    /** Trains {@code c} on {@link #data} into {@code run}: a {@link VaeStage} run by {@link TrainingJob}. */
    static TrainingJob.Result train(SparkSession spark, RqVaeRunConfig c, Path run, int workers, String fault,
            Duration timeout) throws IOException {
        return TrainingJob.run(spark, new VaeStage(c, data()), new TrainingJob.Options(run.toString(), workers, timeout,
                2, fault));
    }

    /** Copies a run directory (Hadoop's .crc side files left out). */
    static void copyRun(Path from, Path to) throws IOException {
        try (java.util.stream.Stream<Path> files = Files.walk(from)) {
            for (Path f : files.toList()) {
                Path dest = to.resolve(from.relativize(f).toString());
                if (Files.isDirectory(f)) {
                    Files.createDirectories(dest);
                } else if (!f.getFileName().toString().endsWith(".crc")) {
                    Files.copy(f, dest);
                }
            }
        }
    }

    /**
     * Rewrites a run's {@code run.json} and {@code config.yaml} as an rq version without the keys
     * {@code dotted} wrote them: the keys gone from the stored config, the hash that of the rest.
     */
    static void asWrittenBefore(Path run, String... dotted) throws IOException {
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        var runJson = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(run.resolve("run.json").toFile());
        var config = runJson.get("config");
        for (String key : dotted) {
            String[] parts = key.split("\\.");
            var node = config;
            for (int i = 0; i < parts.length - 1; i++) {
                node = node.get(parts[i]);
            }
            assertThat(node.has(parts[parts.length - 1])).as("stored config holds %s", key).isTrue();
            ((com.fasterxml.jackson.databind.node.ObjectNode) node).remove(parts[parts.length - 1]);
        }
        runJson.put("config_hash", Configs.hash(config));
        json.writerWithDefaultPrettyPrinter().writeValue(run.resolve("run.json").toFile(), runJson);
        new com.fasterxml.jackson.databind.ObjectMapper(new com.fasterxml.jackson.dataformat.yaml.YAMLFactory())
                .writeValue(run.resolve("config.yaml").toFile(), config);
    }

    /** @return the logged step records of a run ({@link MetricsLog}: the rolled metrics parts), in step order */
    static List<String> metrics(Path run) throws IOException {
        return new RunDirectory(run.toString(), new org.apache.hadoop.conf.Configuration()).metricsLines();
    }

    /** @return every tensor of the final checkpoint of a run */
    static Map<String, HostTensor> finalWeights(Path run) throws IOException {
        return weightsAt(run, STEPS);
    }

    /** @return every tensor of the checkpoint of {@code step} */
    static Map<String, HostTensor> weightsAt(Path run, long step) throws IOException {
        Path ckpt = run.resolve("checkpoints").resolve(RunDirectory.name(step));
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager()) {
            VaeCheckpoint.Loaded l = VaeCheckpoint.load(new LocalDir(ckpt), m);
            try (RqVae v = l.vae()) {
                return v.stateDict();
            }
        }
    }

    /**
     * Parameters of tiny.yaml whose loss gradient is mathematically zero, so that their values are
     * driven only by float rounding noise (amplified to ±lr by Adam's normalisation) in any
     * implementation, the official one included: attention key biases (softmax is invariant to
     * adding q·b_k to every logit of a query; VAE {@code attn.k.bias}, transformer {@code
     * attn.key.bias}), and biases of convolutions at the 32-channel level
     * whose output is read only through GroupNorm(32 groups) of 32 channels (one channel per
     * group, so a per-channel constant is normalised away): conv1 of the encoder's level-0 block,
     * and everything writing the decoder's level-0 residual stream.
     */
    static boolean gradientFree(String key) {
        return key.matches(".*attn(_1|\\.\\d+)\\.k\\.bias") || key.matches(".*\\.attn\\.key\\.bias")
                || key.matches("encoder\\.down\\.0\\.block\\.\\d+\\.conv1\\.bias")
                || key.matches("decoder\\.up\\.0\\.block\\.\\d+\\.(conv1|conv2|nin_shortcut)\\.bias");
    }

    /**
     * Compares two runs' weights with the relative difference ‖a−b‖₂ / ‖b‖₂ (the measure of the
     * parity fixtures), leaving out the {@link #gradientFree} tensors: over the whole model it must
     * be ≤ {@code tol}, for every codebook tensor (weights and EMA buffers) ≤ {@code tol}, and for
     * every single tensor ≤ 10·{@code tol} (small bias vectors that start at zero carry Adam's
     * float noise at a few 1e-5).
     */
    static void assertClose(Map<String, HostTensor> a, Map<String, HostTensor> b, double tol) {
        assertThat(a.keySet()).isEqualTo(b.keySet());
        double worst = 0;
        String worstKey = null;
        double totalNum = 0;
        double totalDen = 0;
        int compared = 0;
        for (String k : a.keySet()) {
            if (gradientFree(k)) {
                continue;
            }
            compared++;
            float[] x = a.get(k).toFloats();
            float[] y = b.get(k).toFloats();
            double num = 0;
            double den = 0;
            for (int i = 0; i < x.length; i++) {
                num += (double) (x[i] - y[i]) * (x[i] - y[i]);
                den += (double) y[i] * y[i];
            }
            totalNum += num;
            totalDen += den;
            double rel = Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
            assertThat(num + den).as("%s holds non-finite values (run diverged?)", k).isFinite();
            if (k.startsWith("quantizer.")) {
                assertThat(rel).as("relative difference of codebook tensor %s", k).isLessThanOrEqualTo(tol);
            }
            if (rel > worst) {
                worst = rel;
                worstKey = k;
            }
        }
        double whole = Math.sqrt(totalNum / totalDen);
        System.out.printf("relative difference: whole model %.3g over %d of %d tensors; largest tensor %.3g (%s)%n",
                whole, compared, a.size(), worst, worstKey);
        assertThat(compared).isGreaterThan(a.size() * 8 / 10);
        assertThat(whole).as("whole-model relative difference").isLessThanOrEqualTo(tol);
        assertThat(worst).as("relative difference of %s", worstKey).isLessThanOrEqualTo(10 * tol);
    }

    /**
     * Asserts that the run whose checkpoint is {@code tuned} started from {@code init}'s weights
     * with a fresh optimizer: trained at a learning rate of 1e-30, every parameter outside the
     * EMA-updated quantizer buffers still equals {@code init}'s (within 1e-20), and the Adam
     * moments are those of exactly one step from zero ({@code v·(1−β1)² = (1−β2)·m²} element-wise,
     * which no restored optimizer satisfies).
     */
    static void assertStartedFrom(Map<String, HostTensor> init, Map<String, HostTensor> tunedWeights,
            Path tuned, List<Double> betas) throws IOException {
        for (Map.Entry<String, HostTensor> e : init.entrySet()) {
            if (e.getKey().startsWith("quantizer.")) {
                continue; // EMA buffers move with the data, not with the learning rate
            }
            float[] a = e.getValue().toFloats();
            float[] b = tunedWeights.get(e.getKey()).toFloats();
            for (int i = 0; i < a.length; i++) {
                assertThat((double) b[i]).as("%s[%d]", e.getKey(), i).isCloseTo(a[i], org.assertj.core.data.Offset.offset(1e-20));
            }
        }
        dev.rq.model.checkpoint.Checkpoints.Loaded c = dev.rq.model.checkpoint.Checkpoints.open(new LocalDir(tuned));
        assertThat(c.manifest().step()).isEqualTo(1);
        assertThat(c.trainerState().get("step").asLong()).isEqualTo(1);
        Map<String, HostTensor> opt = c.optimizer();
        double b1 = betas.get(0);
        double b2 = betas.get(1);
        int checked = 0;
        for (String k : opt.keySet()) {
            if (!k.startsWith("exp_avg.")) {
                continue;
            }
            float[] m = opt.get(k).toFloats();
            float[] v = opt.get("exp_avg_sq." + k.substring("exp_avg.".length())).toFloats();
            for (int i = 0; i < m.length; i++) {
                double want = (1 - b2) * (double) m[i] * m[i] / ((1 - b1) * (1 - b1));
                if (want > 1e-30) {
                    assertThat((double) v[i]).as("%s[%d]", k, i).isCloseTo(want, org.assertj.core.data.Offset.offset(1e-3 * want));
                    checked++;
                }
            }
        }
        assertThat(checked).as("moments checked").isGreaterThan(100);
    }
}
