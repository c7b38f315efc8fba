import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.bench.BenchTimer;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.nn.Tensors;
import dev.rq.model.util.SyntheticImages;
import dev.rq.model.vae.RqVae;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * In-process A/B of one tokenize call (VaeBench's: {@code RqVae.codes} on a batch of 16 synthetic
 * images, eval mode, codes copied to the JVM, in its own NDScope, the model's bfloat16 weight casts
 * held as VaeBench and the tokenize job hold them) between two settings of system properties that
 * the code reads at call time ({@code KEY=VALUE[,KEY=VALUE...]} each), alternating call by call in
 * one JVM on one model; prints the medians of the wall time, of the calling thread's CPU and user
 * time, of the process's CPU and of its minor page faults per call (with 1 intra-op thread the
 * thread CPU time is the call's work even on a loaded machine), and the CPU time the JVM's JIT
 * compiler and GC threads took during the timed calls (they compete with the intra-op threads for
 * cores). Before the alternating calls, untimed calls until the JIT compiler has settled ({@code
 * BenchTimer.warmUp}, at most {@code -Drq.ab.max_warmup_s=60} seconds). {@code PROFILE=PREFIX} instead of the two settings writes one profiled call's chrome trace
 * to PREFIX-tokenize-PRECISION-tTHREADS.json (scripts/profile-summary.py sums it;
 * scripts/anchor_profile_vae.py ... --tuned --tokenize-only profiles the official one).
 *
 * After `bin/rq --help` (builds the jars), from the repository root (~1 min at 2 threads, idle):
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true \
 *     -cp "rq-model/target/classes:$(cat spark-jobs/target/classpath.txt)" scripts/TokenizeAb.java \
 *     conf/rqvae/bench64.yaml fp32|bf16 THREADS ROUNDS KEY=A KEY=B | PROFILE=PREFIX
 * e.g. ... bf16 1 5 rq.inference.free_early=false rq.inference.free_early=true (scripts/tokenize-cpu.sh
 * sets ours beside the official tuned call), or the session-9 changes together:
 *   ... bf16 1 10 rq.quantizer.fused_distances=false,rq.quantizer.codes_only=false,rq.tokenize.frozen_casts=false,... \
 *     rq.quantizer.fused_distances=true,rq.quantizer.codes_only=true,rq.tokenize.frozen_casts=true,...
 * (scripts/tokenize-cpu.sh's default --ab lists all of them)
 */
public class TokenizeAb {
    public static void main(String[] a) throws Exception {
        Path conf = Path.of(a[0]);
        Precision p = a[1].equals("bf16") ? Precision.BF16 : Precision.FP32;
        int threads = Integer.parseInt(a[2]);
        int rounds = Integer.parseInt(a[3]);
        String profile = a[4].startsWith("PROFILE=") ? a[4].substring("PROFILE=".length()) : null;
        String[] variants = profile != null ? null : new String[] {a[4], a[5]};
        RqVaeRunConfig config = Configs.loadRqVae(conf, List.of());
        Engines.pytorch(threads);
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        int batch = 16;
        int res = config.model().ddconfig().resolution();
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(config.model(), m, 0)) {
            vae.setPrecision(p);
            // as VaeBench and the tokenize job run the model: the bfloat16 weights cast once and reused by
            // each call's freeze (rq.tokenize.frozen_casts=false, read per call, casts them at every call)
            ParamStore.Frozen casts = vae.params().holdFrozenCasts();
            NDArray x = Tensors.of(m, SyntheticImages.batch(batch, res, 42), new Shape(batch, 3, res, res));
            if (profile != null) {
                for (int r = 0; r < Math.max(rounds, 2); r++) {
                    try (NDScope scope = new NDScope()) { // as the timed calls: freed after each call
                        vae.codes(x).toLongArray();
                    }
                }
                try (NDScope scope = new NDScope()) {
                    JniUtils.startProfile(false, false, false);
                    vae.codes(x).toLongArray();
                }
                String file = profile + "-tokenize-" + p.id() + "-t" + threads + ".json";
                JniUtils.stopProfile(file);
                System.out.println("wrote " + file);
                return;
            }
            double[][] wall = new double[2][rounds];
            double[][] cpu = new double[2][rounds];
            double[][] user = new double[2][rounds];
            double[][] faults = new double[2][rounds];
            double[][] proc = new double[2][rounds];
            com.sun.management.OperatingSystemMXBean os =
                    (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
            // untimed calls (variant B) until the JIT compiler has settled, as rq bench warms up (BenchTimer;
            // -Drq.ab.max_warmup_s=0: only the 2 rounds below)
            for (String kv : variants[1].split(",")) {
                System.setProperty(kv.split("=", 2)[0], kv.split("=", 2)[1]);
            }
            BenchTimer.WarmUp w = BenchTimer.warmUp(0, Double.parseDouble(System.getProperty("rq.ab.max_warmup_s", "60")),
                    () -> vae.codes(x).toLongArray());
            System.out.printf("warm-up: %d calls, %.1f s, JIT settled: %s%n", w.calls(), w.seconds(), w.settled());
            Map<String, Long> jvm0 = null;
            for (int r = -2; r < rounds; r++) {
                if (r == 0) {
                    jvm0 = jvmThreadTicks();
                }
                for (int k = 0; k < 2; k++) {
                    int v = (k + Math.max(r, 0)) % 2;
                    for (String kv : variants[v].split(",")) { // KEY=VALUE[,KEY=VALUE...]
                        System.setProperty(kv.split("=", 2)[0], kv.split("=", 2)[1]);
                    }
                    long c0 = mx.getCurrentThreadCpuTime();
                    long u0 = mx.getCurrentThreadUserTime();
                    long f0 = minorFaults();
                    long p0 = os.getProcessCpuTime();
                    long t0 = System.nanoTime();
                    try (NDScope scope = new NDScope()) { // as VaeBench times it
                        vae.codes(x).toLongArray();
                    }
                    if (r >= 0) {
                        user[v][r] = (mx.getCurrentThreadUserTime() - u0) / 1e6;
                        faults[v][r] = minorFaults() - f0;
                        wall[v][r] = (System.nanoTime() - t0) / 1e6;
                        cpu[v][r] = (mx.getCurrentThreadCpuTime() - c0) / 1e6;
                        proc[v][r] = (os.getProcessCpuTime() - p0) / 1e6;
                    }
                }
            }
            System.out.printf("%s %s tokenize (batch %d), %d threads, %d rounds, medians per call:%n", conf, p.id(),
                    batch, threads, rounds);
            for (int v = 0; v < 2; v++) {
                Arrays.sort(wall[v]);
                Arrays.sort(cpu[v]);
                Arrays.sort(user[v]);
                Arrays.sort(faults[v]);
                Arrays.sort(proc[v]);
                System.out.printf("  %-24s median wall %7.1f ms, thread cpu %7.1f ms (user %7.1f), process cpu %7.1f ms,"
                        + " minor faults %.0f%n", variants[v], wall[v][rounds / 2], cpu[v][rounds / 2],
                        user[v][rounds / 2], proc[v][rounds / 2], faults[v][rounds / 2]);
            }
            Map<String, Long> jvm1 = jvmThreadTicks();
            double tick = 1000.0 / 100; // ms per clock tick (USER_HZ 100 on Linux)
            System.out.printf("  JVM threads' CPU during the %d timed calls: JIT compilers %.0f ms, GC %.0f ms%n", 2 * rounds,
                    (jvm1.get("jit") - jvm0.get("jit")) * tick, (jvm1.get("gc") - jvm0.get("gc")) * tick);
            System.out.printf("  A/B (>1: B faster): wall %.3f, cpu %.3f%n", wall[0][rounds / 2] / wall[1][rounds / 2],
                    cpu[0][rounds / 2] / cpu[1][rounds / 2]);
        }
    }

    /**
     * CPU clock ticks so far of the JVM's JIT compiler threads ("jit") and garbage-collector threads
     * ("gc"), from /proc/self/task/N/stat: the work that competes with the intra-op threads for cores.
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

    /** The process's minor page faults so far (/proc/self/stat field 10; -1 where there is none). */
    static long minorFaults() {
        try {
            String st = java.nio.file.Files.readString(Path.of("/proc/self/stat"));
            return Long.parseLong(st.substring(st.lastIndexOf(')') + 2).split(" ")[7]);
        } catch (java.io.IOException | RuntimeException e) {
            return -1;
        }
    }
}
