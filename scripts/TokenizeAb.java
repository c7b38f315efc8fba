import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.nn.Tensors;
import dev.rq.model.util.SyntheticImages;
import dev.rq.model.vae.RqVae;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * In-process A/B of one tokenize call (VaeBench's: {@code RqVae.codes} on a batch of 16 synthetic
 * images, eval mode, codes copied to the JVM, in its own NDScope) between two settings of one system
 * property that the code reads at call time, alternating call by call in one JVM on one model; prints
 * the medians of the wall time, of the calling thread's CPU and user time and of the process's minor
 * page faults per call (with 1 intra-op thread the CPU time is the call's work even on a loaded
 * machine). {@code PROFILE=PREFIX} instead of the two settings writes one profiled call's chrome trace
 * to PREFIX-tokenize-PRECISION-tTHREADS.json (scripts/profile-summary.py sums it;
 * scripts/anchor_profile_vae.py ... --tuned --tokenize-only profiles the official one).
 *
 * After `bin/rq --help` (builds the jars), from the repository root (~1 min at 2 threads, idle):
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true \
 *     -cp "rq-model/target/classes:$(cat spark-jobs/target/classpath.txt)" scripts/TokenizeAb.java \
 *     conf/rqvae/bench64.yaml fp32|bf16 THREADS ROUNDS KEY=A KEY=B | PROFILE=PREFIX
 * e.g. ... bf16 1 5 rq.inference.free_early=false rq.inference.free_early=true (scripts/tokenize-cpu.sh
 * sets ours beside the official tuned call).
 */
public class TokenizeAb {
    public static void main(String[] a) throws Exception {
        Path conf = Path.of(a[0]);
        Precision p = a[1].equals("bf16") ? Precision.BF16 : Precision.FP32;
        int threads = Integer.parseInt(a[2]);
        int rounds = Integer.parseInt(a[3]);
        String profile = a[4].startsWith("PROFILE=") ? a[4].substring("PROFILE=".length()) : null;
        String[][] variants = profile != null ? null : new String[][] {a[4].split("=", 2), a[5].split("=", 2)};
        RqVaeRunConfig config = Configs.loadRqVae(conf, List.of());
        Engines.pytorch(threads);
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        int batch = 16;
        int res = config.model().ddconfig().resolution();
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(config.model(), m, 0)) {
            vae.setPrecision(p);
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
            for (int r = -2; r < rounds; r++) {
                for (int k = 0; k < 2; k++) {
                    int v = (k + Math.max(r, 0)) % 2;
                    System.setProperty(variants[v][0], variants[v][1]);
                    long c0 = mx.getCurrentThreadCpuTime();
                    long u0 = mx.getCurrentThreadUserTime();
                    long f0 = minorFaults();
                    long t0 = System.nanoTime();
                    try (NDScope scope = new NDScope()) { // as VaeBench times it
                        vae.codes(x).toLongArray();
                    }
                    if (r >= 0) {
                        user[v][r] = (mx.getCurrentThreadUserTime() - u0) / 1e6;
                        faults[v][r] = minorFaults() - f0;
                        wall[v][r] = (System.nanoTime() - t0) / 1e6;
                        cpu[v][r] = (mx.getCurrentThreadCpuTime() - c0) / 1e6;
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
                System.out.printf("  %-24s median wall %7.1f ms, thread cpu %7.1f ms (user %7.1f), minor faults %.0f%n",
                        String.join("=", variants[v]), wall[v][rounds / 2], cpu[v][rounds / 2], user[v][rounds / 2],
                        faults[v][rounds / 2]);
            }
            System.out.printf("  A/B (>1: B faster): wall %.3f, cpu %.3f%n", wall[0][rounds / 2] / wall[1][rounds / 2],
                    cpu[0][rounds / 2] / cpu[1][rounds / 2]);
        }
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
