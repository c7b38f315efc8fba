import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.rq.model.bench.BenchTimer;
import dev.rq.model.config.Configs;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.config.VaeConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.nn.Tensors;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.transformer.TransformerTrainer;
import dev.rq.model.util.Rng;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * In-process A/B of the RQ-Transformer training step (forward + backward + AdamW, hard targets on
 * seeded random codes, dropout on: TransformerBench's step) between two settings of one system
 * property that the code reads at call time, alternating step by step in one JVM on one model, so
 * that both variants see the same machine load. Prints the medians of the wall time and of the
 * calling thread's CPU time per step (and the process's minor page faults per step); with 1
 * intra-op thread every libtorch operator runs on the calling thread, so the CPU time is the
 * step's work even on a loaded machine), and the CPU time of the JVM's JIT compiler and GC threads
 * during the timed steps. Before the alternating steps, untimed steps until the JIT compiler has settled
 * ({@code BenchTimer.warmUp}, at most {@code -Drq.ab.max_warmup_s=60} seconds).
 *
 * After `bin/rq --help` (builds the jars), from the repository root (~2 min for 6 rounds idle):
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true \
 *     -cp "$(cat spark-jobs/target/classpath.txt):rq-model/target/classes" scripts/TransformerStepAb.java \
 *     conf/rqtransformer/bench64.yaml fp32|bf16 THREADS ROUNDS KEY=A KEY=B
 * e.g. ... bf16 1 6 rq.attention.explicit_max_len=16 rq.attention.explicit_max_len=0
 * PROFILE=PREFIX instead of the two settings: ROUNDS untimed steps, then one step under libtorch's profiler with
 * input shapes, written to PREFIX-transformer-train-PRECISION-bBATCH-tTHREADS.json (scripts/profile-summary.py).
 * -Drq.ab.batch=N: N rows per step instead of 16 (the quickstart's stage 2 steps 4 rows per rank);
 * -Drq.ab.set=KEY=V,KEY=V: config overrides (e.g. model.body.block.resid_pdrop=0.0). A variant may set
 * several properties: 'K1=A;K2=B'.
 */
public class TransformerStepAb {
    public static void main(String[] a) throws Exception {
        Path conf = Path.of(a[0]);
        Precision p = a[1].equals("bf16") ? Precision.BF16 : Precision.FP32;
        int threads = Integer.parseInt(a[2]);
        int rounds = Integer.parseInt(a[3]);
        String profile = a[4].startsWith("PROFILE=") ? a[4].substring("PROFILE=".length()) : null;
        String[] variants = profile != null ? null : new String[] {a[4], a[5]}; // KEY=V, or several joined by ";"
        String set = System.getProperty("rq.ab.set", ""); // config overrides, comma-separated key=value
        TransformerRunConfig config = TransformerRunConfig.load(conf, set.isEmpty() ? List.of() : List.of(set.split(",")));
        VaeConfig vaeConfig = Configs.loadRqVae(conf.resolveSibling(config.vae().config()), List.of()).model();
        config = new TransformerRunConfig(config.model(), config.vae(), config.train().withPrecision(p),
                config.loss(), config.sampling(), config.data());
        Engines.pytorch(threads);
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        var mc = config.model();
        int batch = Integer.getInteger("rq.ab.batch", 16); // rows per step (the quickstart: 4 per rank)
        try (NDManager m = Engines.newManager(); var vae = dev.rq.model.vae.RqVae.create(vaeConfig, m, 0);
                RqTransformer model = RqTransformer.create(mc, m, 0)) {
            model.setPrecision(p);
            Rng rng = new Rng(42);
            long[] codes = new long[batch * mc.positions() * mc.depth()];
            for (int i = 0; i < codes.length; i++) {
                codes[i] = rng.nextInt(mc.vocab(i % mc.depth()));
            }
            long[] labels = new long[batch * mc.condLength()];
            for (int i = 0; i < labels.length; i++) {
                labels[i] = rng.nextInt(mc.condVocab());
            }
            NDArray x = Tensors.of(m, codes).reshape(batch, mc.height(), mc.width(), mc.depth());
            TransformerTrainer trainer = new TransformerTrainer(model, vae, config, Collective.local());
            if (profile != null) { // ROUNDS untimed steps, then one profiled step (input shapes recorded)
                for (int r = 0; r < Math.max(rounds, 2); r++) {
                    trainer.step(List.of(TransformerTrainer.MicroBatch.ofCodes(x, labels)));
                }
                ai.djl.pytorch.jni.JniUtils.startProfile(false, true, false);
                trainer.step(List.of(TransformerTrainer.MicroBatch.ofCodes(x, labels)));
                String file = profile + "-transformer-train-" + p.id() + "-b" + batch + "-t" + threads + ".json";
                ai.djl.pytorch.jni.JniUtils.stopProfile(file);
                System.out.println("wrote " + file);
                return;
            }
            double[][] wall = new double[2][rounds];
            double[][] cpu = new double[2][rounds];
            double[][] faults = new double[2][rounds];
            double[][][] parts = new double[3][2][rounds]; // forward + loss, backward, optimizer (wall ms)
            // untimed steps (variant B) until the JIT compiler has settled, as rq bench warms up (BenchTimer;
            // -Drq.ab.max_warmup_s=0: only the round below)
            set(variants[1]);
            BenchTimer.WarmUp w = BenchTimer.warmUp(0, Double.parseDouble(System.getProperty("rq.ab.max_warmup_s", "60")),
                    () -> trainer.step(List.of(TransformerTrainer.MicroBatch.ofCodes(x, labels))));
            System.out.printf("warm-up: %d steps, %.1f s, JIT settled: %s%n", w.calls(), w.seconds(), w.settled());
            Map<String, Long> jvm0 = null;
            for (int r = -1; r < rounds; r++) {
                if (r == 0) {
                    jvm0 = jvmThreadTicks();
                }
                for (int k = 0; k < 2; k++) {
                    int v = (k + Math.max(r, 0)) % 2;
                    set(variants[v]);
                    long f0 = minorFaults();
                    long c0 = mx.getCurrentThreadCpuTime();
                    long t0 = System.nanoTime();
                    var metrics = trainer.step(List.of(TransformerTrainer.MicroBatch.ofCodes(x, labels)));
                    if (r >= 0) {
                        parts[0][v][r] = metrics.timings().forward() * 1e3;
                        parts[1][v][r] = metrics.timings().backward() * 1e3;
                        parts[2][v][r] = metrics.timings().optimizer() * 1e3;
                        wall[v][r] = (System.nanoTime() - t0) / 1e6;
                        cpu[v][r] = (mx.getCurrentThreadCpuTime() - c0) / 1e6;
                        faults[v][r] = minorFaults() - f0;
                    }
                }
            }
            System.out.printf("%s %s, %d threads, %d rounds, medians per step:%n", conf, p.id(), threads, rounds);
            for (int v = 0; v < 2; v++) {
                Arrays.sort(wall[v]);
                Arrays.sort(cpu[v]);
                Arrays.sort(faults[v]);
                for (double[][] part : parts) {
                    Arrays.sort(part[v]);
                }
                System.out.printf("  %-40s wall %8.1f ms   thread cpu %8.1f ms   minor faults %8.0f"
                        + "   (wall: forward + loss %.1f, backward %.1f, optimizer %.1f ms)%n", variants[v],
                        wall[v][rounds / 2], cpu[v][rounds / 2], faults[v][rounds / 2], parts[0][v][rounds / 2],
                        parts[1][v][rounds / 2], parts[2][v][rounds / 2]);
            }
            Map<String, Long> jvm1 = jvmThreadTicks();
            System.out.printf("  JVM threads' CPU during the %d timed steps: JIT compilers %d ms, GC %d ms%n", 2 * rounds,
                    (jvm1.get("jit") - jvm0.get("jit")) * 10, (jvm1.get("gc") - jvm0.get("gc")) * 10);
            System.out.printf("  B/A: wall %.3f, cpu %.3f%n", wall[1][rounds / 2] / wall[0][rounds / 2],
                    cpu[1][rounds / 2] / cpu[0][rounds / 2]);
        }
    }

    /** Sets the system properties of one variant: KEY=V, or several joined by ";". */
    static void set(String variant) {
        for (String kv : variant.split(";")) {
            String[] p = kv.split("=", 2);
            System.setProperty(p[0], p[1]);
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

    /**
     * CPU clock ticks so far of the JVM's JIT compiler threads ("jit") and garbage-collector threads
     * ("gc"), from /proc/self/task/N/stat: the work that competes with the intra-op threads for cores (as scripts/TokenizeAb.java).
     */
    static Map<String, Long> jvmThreadTicks() {
        Map<String, Long> out = new HashMap<>(Map.of("jit", 0L, "gc", 0L));
        try (var tasks = java.nio.file.Files.list(Path.of("/proc/self/task"))) {
            for (Path t : (Iterable<Path>) tasks::iterator) {
                String st;
                try {
                    st = java.nio.file.Files.readString(t.resolve("stat"));
                } catch (java.io.IOException gone) {
                    continue;
                }
                String comm = st.substring(st.indexOf('(') + 1, st.lastIndexOf(')'));
                String[] f = st.substring(st.lastIndexOf(')') + 2).split(" ");
                long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime + stime
                String kind = comm.contains("Compiler") ? "jit" : comm.startsWith("GC ") || comm.startsWith("G1 ") ? "gc" : null;
                if (kind != null) {
                    out.merge(kind, ticks, Long::sum);
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            // no /proc: report zeros
        }
        return out;
    }
}
