import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.rq.model.engine.Engines;
import dev.rq.model.kernels.Kernels;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;

/**
 * In-process A/B/C of causal attention on the bench64 depth head's shapes ([B·T, h, L, hd] =
 * [1024, 8, 4, 32] by default), forward + backward, alternating, medians: libtorch's fused flash
 * kernel ({@code Kernels.attention}), the explicit GEMMs + softmax as one TorchScript call
 * ({@code Kernels.attentionExplicit}, AttentionBlock's path for short sequences) and the same
 * explicit ops as separate DJL calls ({@code matMul}, {@code add}, {@code softmax}, {@code matMul}).
 * Prints medians of the wall time and of the calling thread's CPU time (with 1 thread, every operator
 * runs on the calling thread: the work, less sensitive to machine load than the wall time).
 *
 * After `bin/rq --help` (builds the jars), from the repository root (about 1 min idle):
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true \
 *     -cp "$(cat spark-jobs/target/classpath.txt):rq-model/target/classes" scripts/HeadAttentionAb.java \
 *     [threads] [rounds] [n] [len] [bf16]
 */
public class HeadAttentionAb {
    static final String[] NAMES = {"flash", "torchscript explicit", "DJL explicit"};

    public static void main(String[] a) {
        int threads = a.length > 0 ? Integer.parseInt(a[0]) : 2;
        int rounds = a.length > 1 ? Integer.parseInt(a[1]) : 9;
        long n = a.length > 2 ? Long.parseLong(a[2]) : 1024;
        int len = a.length > 3 ? Integer.parseInt(a[3]) : 4;
        boolean bf16 = a.length > 4 && a[4].equals("bf16");
        Engines.pytorch(threads);
        try (NDManager m = Engines.newManager()) {
            float[] mk = new float[len * len];
            for (int i = 0; i < len; i++) {
                for (int j = i + 1; j < len; j++) {
                    mk[i * len + j] = Float.NEGATIVE_INFINITY;
                }
            }
            NDArray mask = m.create(mk, new Shape(len, len));
            double[][] ms = new double[3][rounds];
            double[][] cpu = new double[3][rounds];
            ThreadMXBean mx = ManagementFactory.getThreadMXBean();
            for (int r = -2; r < rounds; r++) {
                for (int k = 0; k < 3; k++) {
                    int variant = (k + Math.max(r, 0)) % 3;
                    try (NDManager sub = m.newSubManager()) {
                        NDArray q = sub.randomNormal(new Shape(n, 8, len, 32));
                        NDArray kk = sub.randomNormal(new Shape(n, 8, len, 32));
                        NDArray v = sub.randomNormal(new Shape(n, 8, len, 32));
                        q.setRequiresGradient(true);
                        kk.setRequiresGradient(true);
                        v.setRequiresGradient(true);
                        long t = System.nanoTime();
                        long c = mx.getCurrentThreadCpuTime();
                        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                            NDArray qc = bf16 ? Kernels.toBf16(q) : q;
                            NDArray kc = bf16 ? Kernels.toBf16(kk) : kk;
                            NDArray vc = bf16 ? Kernels.toBf16(v) : v;
                            NDArray y;
                            if (variant == 0) {
                                y = Kernels.attention(qc, kc, vc, true, 1.0);
                            } else if (variant == 1) {
                                y = Kernels.attentionExplicit(qc, kc, vc, mask);
                            } else {
                                y = Kernels.toFloat32(qc.matMul(kc.transpose(0, 1, 3, 2))).add(mask).softmax(-1);
                                y = (bf16 ? Kernels.toBf16(y) : y).matMul(vc);
                            }
                            gc.backward(Kernels.toFloat32(y).sum());
                        }
                        q.getGradient().toFloatArray();
                        double dt = (System.nanoTime() - t) / 1e6;
                        if (r >= 0) {
                            ms[variant][r] = dt;
                            cpu[variant][r] = (mx.getCurrentThreadCpuTime() - c) / 1e6;
                        }
                    }
                }
            }
            System.out.printf("[%d, 8, %d, 32] %s fwd+bwd, %d threads, medians of %d:%n", n, len,
                    bf16 ? "bf16" : "fp32", threads, rounds);
            for (int i = 0; i < 3; i++) {
                Arrays.sort(ms[i]);
                Arrays.sort(cpu[i]);
                System.out.printf("  %-22s wall %9.1f ms (%.2fx flash), thread cpu %9.1f ms (%.2fx flash)%n", NAMES[i],
                        ms[i][rounds / 2], ms[0][rounds / 2] / ms[i][rounds / 2], cpu[i][rounds / 2],
                        cpu[0][rounds / 2] / cpu[i][rounds / 2]);
            }
        }
    }
}
