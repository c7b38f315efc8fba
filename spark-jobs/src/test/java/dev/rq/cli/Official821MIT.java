package dev.rq.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.sample.SampleJob;
import dev.rq.jobs.tokenize.TokenFixtures;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.checkpoint.LocalDir;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.TransformerConfig;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.safetensors.TensorData;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.vae.RqVae;
import dev.rq.tables.SampleLayout;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import javax.imageio.ImageIO;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The official ImageNet 256² <b>821 M</b> RQ-Transformer (820,899,328 parameters, 3.3 GB of float32
 * weights; a single {@code model.safetensors} over 2 GiB) end to end on the CPU: Java writes random
 * weights in the official layout (official keys, sorted like {@code safetensors.torch.save_file})
 * and a release-style {@code config.yaml}, plus the official in256 RQ-VAE likewise; {@code rq
 * import-official} imports both (streaming); {@code rq sample} (a Spark job) loads the checkpoint on
 * its executor and samples one image. The test's peak resident memory, beyond the Java heap and the
 * native memory the JVM held before it began, must stay below 1.5 times the weights: loading streams,
 * it never holds a second copy.
 *
 * <p>Skipped, with the reason printed, on machines with under 16 GB of RAM or under 9 GB of free
 * temporary disk.
 */
class Official821MIT {

    static final ObjectMapper JSON = new ObjectMapper();
    static final long PARAMETERS = 820_899_328L;

    @Test
    void importsLoadsAndSamplesTheOfficial821MModel(@TempDir Path tmp) throws Exception {
        long ram = memTotalBytes();
        skipUnless(ram >= 16L << 30, "the 821M test needs a machine with 16 GB of RAM, this one has "
                + (ram >> 20) + " MiB");
        long disk = Files.getFileStore(tmp).getUsableSpace();
        skipUnless(disk >= 9L << 30, "the 821M test needs 9 GiB of free disk under " + tmp + ", there are "
                + (disk >> 20) + " MiB");
        Path repo = TokenFixtures.repo();
        TransformerRunConfig ours = TransformerRunConfig.load(repo.resolve("conf/rqtransformer/in256-821M.yaml"),
                List.of());
        RqVaeRunConfig vaeRun = Configs.loadRqVae(repo.resolve("conf/rqvae/in256-8x8x4.yaml"), List.of());
        assertThat(RqTransformer.parameterCount(ours.model())).isEqualTo(PARAMETERS);
        // the default suite runs every test class in one JVM: measure this test's own peak (VmHWM reset to the
        // current RSS) above the native memory the JVM already held (earlier tests' Spark classes, libtorch)
        long nativeBefore = nativeResidentLowerBound();
        resetPeakRss();
        long t0 = System.nanoTime();

        // the official in256 RQ-VAE, random weights, official layout
        Engines.pytorch(2);
        ObjectNode vaeConfig = JSON.createObjectNode();
        vaeConfig.set("arch", Configs.toTree(vaeRun.model()));
        Files.writeString(tmp.resolve("stage1.yaml"), JSON.writeValueAsString(vaeConfig));
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(vaeRun.model(), m, 5)) {
            write(vae.stateTensors(), tmp.resolve("stage1.safetensors"));
        }
        run("import-official", "--config", tmp.resolve("stage1.yaml").toString(), "--weights",
                tmp.resolve("stage1.safetensors").toString(), "--out", tmp.resolve("vae").toString());
        Files.delete(tmp.resolve("stage1.safetensors"));

        // the 821M model: a release-style config.yaml and random official-layout weights, generated as written
        ObjectNode official = JSON.createObjectNode();
        ObjectNode arch = (ObjectNode) Configs.toTree(ours.model());
        arch.put("type", "rq-transformer");
        official.set("arch", arch);
        official.putObject("loss").put("type", "soft_target_cross_entropy").put("temp", 0.5).put("stochastic_codes", true);
        official.putObject("sampling").put("temperature", 1.0).put("top_k", 16384).put("top_p", 0.92);
        Files.writeString(tmp.resolve("config.yaml"), JSON.writeValueAsString(official));
        Path weights = tmp.resolve("model.safetensors");
        write(randomOfficial(ours.model()), weights);
        assertThat(Files.size(weights)).isGreaterThan(PARAMETERS * 4).isGreaterThan(2L << 30);
        long t1 = System.nanoTime();

        run("import-official", "--config", tmp.resolve("config.yaml").toString(), "--weights", weights.toString(),
                "--out", tmp.resolve("rqt-821m").toString(), "--vae", tmp.resolve("vae").toString());
        Files.delete(weights); // keep the disk footprint to one copy
        Checkpoints.Loaded imported = Checkpoints.open(new LocalDir(tmp.resolve("rqt-821m")));
        assertThat(imported.manifest().kind()).isEqualTo("rqtransformer");
        assertThat(imported.manifest().files().get(Checkpoints.MODEL).bytes()).isGreaterThan(PARAMETERS * 4);
        long t2 = System.nanoTime();

        // rq sample: the executor loads the checkpoint (streaming, verified) and samples one image of class 7
        SparkSession spark = SparkSessions.getOrCreate("test-821m", 1);
        SampleJob.Result r;
        try {
            r = SampleJob.run(spark, new SampleJob.Options(tmp.resolve("rqt-821m").toString(), null, "7", 1,
                    tmp.resolve("samples").toString(), null, 64, null, 3, 1, 2));
        } finally {
            spark.stop();
        }
        long t3 = System.nanoTime();
        assertThat(r.classes()).containsExactly(7);
        BufferedImage img = ImageIO.read(tmp.resolve("samples").resolve(SampleLayout.imagePath(7, 0)).toFile());
        assertThat(img.getWidth()).isEqualTo(256);
        assertThat(img.getHeight()).isEqualTo(256);
        long peak = peakRssBytes();
        long model = imported.manifest().files().get(Checkpoints.MODEL).bytes();
        System.out.printf("821M: weights generated and written in %.0f s, imported in %.0f s, loaded and sampled in"
                + " %.0f s; model file %.2f GB, peak RSS %.2f GB%n", (t1 - t0) / 1e9, (t2 - t1) / 1e9,
                (t3 - t2) / 1e9, model / 1e9, peak / 1e9);
        // one copy of the weights (plus the RQ-VAE, libtorch and JVM overheads), never two: the
        // resident peak stays under the heap limit plus 1.5 x the weights
        long heap = Runtime.getRuntime().maxMemory();
        long beyond = peak - heap - nativeBefore;
        System.out.printf("821M: peak RSS minus max heap (%.2f GB) minus native memory held before the test (%.2f GB)"
                + " = %.2f GB = %.2f x the model file%n", heap / 1e9, nativeBefore / 1e9, beyond / 1e9,
                beyond / (double) model);
        assertThat(beyond).as("peak resident memory beyond the Java heap").isLessThan(model * 3 / 2);
    }

    /** Random official-layout weights: norm weights 1, biases 0, the rest U(−0.035, 0.035) (std 0.02). */
    static Map<String, TensorData> randomOfficial(TransformerConfig config) {
        Map<String, TensorData> out = new TreeMap<>(); // save_file order
        int i = 0;
        for (Map.Entry<String, long[]> e : RqTransformer.declaredShapes(config).entrySet()) {
            String k = e.getKey();
            boolean norm = k.contains(".ln") || k.contains("layer_norm");
            float constant = norm && k.endsWith(".weight") ? 1f : k.endsWith(".bias") ? 0f : Float.NaN;
            out.put(k, generated(e.getValue(), constant, 1000 + i++));
        }
        return out;
    }

    private static TensorData generated(long[] shape, float constant, long seed) {
        return new TensorData() {
            @Override
            public HostTensor.Dtype dtype() {
                return HostTensor.Dtype.F32;
            }

            @Override
            public long[] shape() {
                return shape;
            }

            @Override
            public void writeTo(OutputStream out) throws IOException {
                SplittableRandom rng = new SplittableRandom(seed);
                ByteBuffer chunk = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
                for (long left = byteSize() / 4; left > 0; ) {
                    chunk.clear();
                    int n = (int) Math.min(left, chunk.capacity() / 4);
                    for (int j = 0; j < n; j++) {
                        chunk.putFloat(Float.isNaN(constant) ? (float) ((rng.nextDouble() - 0.5) * 0.07) : constant);
                    }
                    out.write(chunk.array(), 0, n * 4);
                    left -= n;
                }
            }
        };
    }

    static void write(Map<String, ? extends TensorData> tensors, Path file) throws IOException {
        try (OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(file), 1 << 20)) {
            SafeTensors.write(new TreeMap<>(tensors), Map.of("format", "pt"), out);
        }
    }

    static void run(String... args) {
        String[] r = ImportOfficialTest.rq(args);
        assertThat(r[0]).as("rq %s: %s", String.join(" ", args), r[1]).isEqualTo("0");
    }

    static void skipUnless(boolean ok, String reason) {
        if (!ok) {
            System.out.println("Official821MIT skipped: " + reason);
            Assumptions.abort(reason);
        }
    }

    /** @return MemTotal of /proc/meminfo (Long.MAX_VALUE where there is none: not Linux) */
    static long memTotalBytes() throws IOException {
        return procValue(Path.of("/proc/meminfo"), "MemTotal:", Long.MAX_VALUE);
    }

    /**
     * @return native memory resident now, at least: the resident set minus the committed heap (which
     *     bounds the heap's resident part), 0 where unknown
     */
    static long nativeResidentLowerBound() throws IOException {
        long rss = procValue(Path.of("/proc/self/status"), "VmRSS:", 0);
        long committed = java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getCommitted();
        return Math.max(0, rss - committed);
    }

    /** Resets VmHWM to the current resident set (Linux: 5 into /proc/self/clear_refs); says so where it cannot. */
    static void resetPeakRss() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        } catch (IOException | UnsupportedOperationException e) {
            System.out.println("Official821MIT: cannot reset the peak resident set (" + e + "), earlier tests in"
                    + " this JVM count in it");
        }
    }

    /** @return this process's peak resident set (VmHWM), 0 where unknown */
    static long peakRssBytes() throws IOException {
        return procValue(Path.of("/proc/self/status"), "VmHWM:", 0);
    }

    private static long procValue(Path file, String key, long dflt) throws IOException {
        if (!Files.exists(file)) {
            return dflt;
        }
        for (String line : Files.readAllLines(file)) {
            if (line.startsWith(key)) {
                return Long.parseLong(line.substring(key.length()).trim().split("\\s+")[0]) * 1024;
            }
        }
        return dflt;
    }
}
