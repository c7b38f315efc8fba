import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.util.SyntheticImages;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.TrainConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.nn.Tensors;
import dev.rq.model.train.VaeTrainer;
import dev.rq.model.vae.RqVae;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * In-process A/B of the RQ-VAE training step (VaeBench's step: one forward/backward over a batch of
 * 16 synthetic images, then Adam) between two settings of one system property that the code reads
 * at call time (e.g. rq.kernels.fp32), alternating step by step in one JVM on one model, so that
 * both variants see the same machine load. Prints the medians of the wall time, of the calling
 * thread's CPU time and minor page faults per step, and of the trainer's forward / backward / optimizer wall times; with 1 intra-op thread every libtorch operator runs on the calling
 * thread, so the CPU time is the step's work even on a loaded machine.
 *
 * After `bin/rq --help` (builds the jars), from the repository root (~3 min for 4 rounds, loaded):
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true \
 *     -cp "$(cat spark-jobs/target/classpath.txt):rq-model/target/classes" scripts/VaeStepAb.java \
 *     conf/rqvae/bench64.yaml fp32|bf16 THREADS ROUNDS KEY=A KEY=B | PROFILE=PREFIX
 * e.g. ... fp32 1 4 rq.kernels.fp32=false rq.kernels.fp32=true
 * -Drq.ab.batch=N sets the images per step (default 16; 4 for conf/rqvae/quickstart.yaml's step per rank).
 * PROFILE=PREFIX instead of the two settings writes one profiled step's chrome trace (libtorch's profiler) to
 * PREFIX-vae-train-PRECISION-bBATCH-tTHREADS.json (scripts/profile-summary.py sums it; wall times, so on a loaded
 * machine only the operator counts and rough shares mean something).
 */
public class VaeStepAb {
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
        int batch = Integer.getInteger("rq.ab.batch", 16); // -Drq.ab.batch=4: the quickstart's images per rank
        int res = config.model().ddconfig().resolution();
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(config.model(), m, 0)) {
            vae.setPrecision(p);
            NDArray x = Tensors.of(m, SyntheticImages.batch(batch, res, 42), new Shape(batch, 3, res, res));
            TrainConfig t = config.train();
            TrainConfig bench = new TrainConfig(batch, 1, batch, t.lr(), t.betas(), t.adamEps(), t.weightDecay(),
                    t.warmupSteps(), t.schedule(), t.minLr(), t.maxSteps(), t.gradClipNorm(), t.seed(),
                    t.checkpointEvery(), t.keepCheckpoints(), t.logEvery(), t.init(), p.id(), t.allreduceBucketMb());
            VaeTrainer trainer = new VaeTrainer(vae, bench, Collective.local());
            if (profile != null) { // ROUNDS untimed steps, then one profiled step
                for (int r = 0; r < Math.max(rounds, 2); r++) {
                    trainer.step(List.of(x));
                }
                JniUtils.startProfile(false, false, false);
                trainer.step(List.of(x));
                String file = profile + "-vae-train-" + p.id() + "-b" + batch + "-t" + threads + ".json";
                JniUtils.stopProfile(file);
                System.out.println("wrote " + file);
                return;
            }
            double[][] wall = new double[2][rounds];
            double[][] cpu = new double[2][rounds];
            double[][] faults = new double[2][rounds];
            double[][][] parts = new double[3][2][rounds]; // forward, backward, optimizer (wall ms)
            for (int r = -1; r < rounds; r++) {
                for (int k = 0; k < 2; k++) {
                    int v = (k + Math.max(r, 0)) % 2;
                    System.setProperty(variants[v][0], variants[v][1]);
                    long f0 = minorFaults();
                    long c0 = mx.getCurrentThreadCpuTime();
                    long t0 = System.nanoTime();
                    var metrics = trainer.step(List.of(x));
                    if (r >= 0) {
                        wall[v][r] = (System.nanoTime() - t0) / 1e6;
                        cpu[v][r] = (mx.getCurrentThreadCpuTime() - c0) / 1e6;
                        faults[v][r] = minorFaults() - f0;
                        parts[0][v][r] = metrics.timings().forward() * 1e3;
                        parts[1][v][r] = metrics.timings().backward() * 1e3;
                        parts[2][v][r] = metrics.timings().optimizer() * 1e3;
                    }
                }
            }
            System.out.printf("%s %s, batch %d, %d threads, %d rounds, medians per step:%n", conf, p.id(), batch, threads,
                    rounds);
            for (int v = 0; v < 2; v++) {
                System.out.printf("  %-30s wall %s   thread cpu %s%n", String.join("=", variants[v]),
                        Arrays.toString(round(wall[v])), Arrays.toString(round(cpu[v])));
                Arrays.sort(wall[v]);
                Arrays.sort(cpu[v]);
                Arrays.sort(faults[v]);
                for (double[][] part : parts) {
                    Arrays.sort(part[v]);
                }
                System.out.printf("  %-30s median wall %8.1f ms   thread cpu %8.1f ms   thread minor faults %7.0f"
                        + "   (wall: forward %.1f, backward %.1f, optimizer %.1f ms)%n", String.join("=", variants[v]),
                        wall[v][rounds / 2], cpu[v][rounds / 2], faults[v][rounds / 2], parts[0][v][rounds / 2],
                        parts[1][v][rounds / 2], parts[2][v][rounds / 2]);
            }
            System.out.printf("  A/B (>1: B faster): wall %.3f, cpu %.3f%n", wall[0][rounds / 2] / wall[1][rounds / 2],
                    cpu[0][rounds / 2] / cpu[1][rounds / 2]);
        }
    }

    /** @return the calling thread's minor page faults so far (/proc/thread-self/stat field 10; -1 if unreadable) */
    static long minorFaults() {
        try {
            String stat = java.nio.file.Files.readString(Path.of("/proc/thread-self/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(f[7]); // field 10 of the line: minflt
        } catch (java.io.IOException | RuntimeException e) {
            return -1;
        }
    }

    private static long[] round(double[] v) {
        return Arrays.stream(v).mapToLong(Math::round).toArray();
    }
}
