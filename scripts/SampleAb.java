import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.config.Configs;
import dev.rq.model.config.SamplingConfig;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.config.VaeConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.sampling.RqSampler;
import dev.rq.model.transformer.RqTransformer;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * In-process A/B of KV-cached batched sampling (TransformerBench's sampling call: batch 16, top-k
 * 100, top-p 0.95, randomly initialised models) between two settings of one system property that
 * the code reads at call time, alternating call by call in one JVM on one model, so that both
 * variants see the same machine load. Prints the medians of the wall time and of the calling
 * thread's CPU time per call (with 1 intra-op thread every libtorch operator runs on the calling
 * thread, so the CPU time is the call's work even on a loaded machine) and whether both variants
 * drew the same codes. {@code PROFILE=PREFIX} instead of the two settings writes one profiled
 * call's chrome trace to PREFIX-sample.json (scripts/profile-summary.py sums it).
 *
 * After `bin/rq --help` (builds the jars), from the repository root (~1 min for 6 rounds idle):
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true \
 *     -cp "$(cat spark-jobs/target/classpath.txt):rq-model/target/classes" scripts/SampleAb.java \
 *     conf/rqtransformer/bench64.yaml fp32|bf16 THREADS ROUNDS KEY=A KEY=B | PROFILE=PREFIX
 */
public class SampleAb {
    public static void main(String[] a) throws Exception {
        Path conf = Path.of(a[0]);
        Precision p = a[1].equals("bf16") ? Precision.BF16 : Precision.FP32;
        int threads = Integer.parseInt(a[2]);
        int rounds = Integer.parseInt(a[3]);
        String profile = a[4].startsWith("PROFILE=") ? a[4].substring("PROFILE=".length()) : null;
        String[][] variants = profile != null ? null : new String[][] {a[4].split("=", 2), a[5].split("=", 2)};
        TransformerRunConfig config = TransformerRunConfig.load(conf, List.of());
        VaeConfig vaeConfig = Configs.loadRqVae(conf.resolveSibling(config.vae().config()), List.of()).model();
        Engines.pytorch(threads);
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        var mc = config.model();
        int batch = 16;
        try (NDManager m = Engines.newManager(); var vae = dev.rq.model.vae.RqVae.create(vaeConfig, m, 0);
                RqTransformer model = RqTransformer.create(mc, m, 0)) {
            model.setPrecision(p);
            RqSampler sampler = new RqSampler(model, vae);
            SamplingConfig sc = SamplingConfig.of(1.0, 100, 0.95);
            long[] cond = new long[batch];
            for (int i = 0; i < batch; i++) {
                cond[i] = i % mc.condVocab();
            }
            if (profile != null) {
                for (int r = 0; r < Math.max(1, rounds); r++) {
                    sampler.sample(cond, sc, RqSampler.rowGenerators(7, 0, batch), true);
                }
                JniUtils.startProfile(false, Boolean.getBoolean("rq.profile.shapes"), false);
                long c0 = mx.getCurrentThreadCpuTime();
                sampler.sample(cond, sc, RqSampler.rowGenerators(7, 0, batch), true);
                System.out.printf("profiled call: thread cpu %.1f ms%n", (mx.getCurrentThreadCpuTime() - c0) / 1e6);
                JniUtils.stopProfile(profile + "-sample.json");
                return;
            }
            double[][] wall = new double[2][rounds];
            double[][] cpu = new double[2][rounds];
            double[][] faults = new double[2][rounds];
            long[][] codes = new long[2][];
            boolean same = true;
            for (int r = -1; r < rounds; r++) {
                for (int k = 0; k < 2; k++) {
                    int v = (k + Math.max(r, 0)) % 2;
                    System.setProperty(variants[v][0], variants[v][1]);
                    long f0 = minorFaults();
                    long c0 = mx.getCurrentThreadCpuTime();
                    long t0 = System.nanoTime();
                    long[] out = sampler.sample(cond, sc, RqSampler.rowGenerators(7, 0, batch), true);
                    if (r >= 0) {
                        wall[v][r] = (System.nanoTime() - t0) / 1e6;
                        cpu[v][r] = (mx.getCurrentThreadCpuTime() - c0) / 1e6;
                        faults[v][r] = minorFaults() - f0;
                    }
                    if (codes[v] == null) {
                        codes[v] = out;
                    } else {
                        same &= Arrays.equals(codes[v], out);
                    }
                }
            }
            System.out.printf("%s %s, %d threads, %d rounds, medians per sampling call (batch %d):%n", conf, p.id(),
                    threads, rounds, batch);
            for (int v = 0; v < 2; v++) {
                Arrays.sort(wall[v]);
                Arrays.sort(cpu[v]);
                Arrays.sort(faults[v]);
                System.out.printf("  %-40s wall %8.1f ms   thread cpu %8.1f ms   minor faults %8.0f%n",
                        String.join("=", variants[v]), wall[v][rounds / 2], cpu[v][rounds / 2], faults[v][rounds / 2]);
            }
            System.out.printf("  B/A: wall %.3f, cpu %.3f; codes of A and B identical: %b; each variant repeatable: %b%n",
                    wall[1][rounds / 2] / wall[0][rounds / 2], cpu[1][rounds / 2] / cpu[0][rounds / 2],
                    Arrays.equals(codes[0], codes[1]), same);
        }
    }

    /** @return this process's minor page faults so far (field 10 of /proc/self/stat; 0 where there is none) */
    static long minorFaults() {
        try {
            String st = java.nio.file.Files.readString(Path.of("/proc/self/stat"));
            return Long.parseLong(st.substring(st.lastIndexOf(')') + 2).split(" ")[7]);
        } catch (java.io.IOException | RuntimeException e) {
            return 0;
        }
    }
}
