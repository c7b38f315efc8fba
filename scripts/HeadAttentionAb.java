import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.rq.model.engine.Engines;
import dev.rq.model.kernels.Kernels;
import java.util.Arrays;

/**
 * In-process A/B of causal attention on the bench64 depth head's shapes ([B·T, h, L, hd] =
 * [1024, 8, 4, 32] by default), forward + backward: libtorch's fused flash kernel against explicit
 * GEMMs + softmax (AttentionBlock's path for short sequences), alternating, medians.
 *
 * After `bin/rq --help` (builds the jars), from the repository root (about 1 min idle):
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true \
 *     -cp "$(cat spark-jobs/target/classpath.txt)" scripts/HeadAttentionAb.java [threads] [rounds] [n] [len]
 */
public class HeadAttentionAb {
    public static void main(String[] a) {
        int threads = a.length > 0 ? Integer.parseInt(a[0]) : 2;
        int rounds = a.length > 1 ? Integer.parseInt(a[1]) : 9;
        long n = a.length > 2 ? Long.parseLong(a[2]) : 1024;
        int len = a.length > 3 ? Integer.parseInt(a[3]) : 4;
        Engines.pytorch(threads);
        try (NDManager m = Engines.newManager()) {
            float[] mk = new float[len * len];
            for (int i = 0; i < len; i++) {
                for (int j = i + 1; j < len; j++) {
                    mk[i * len + j] = Float.NEGATIVE_INFINITY;
                }
            }
            NDArray mask = m.create(mk, new Shape(len, len));
            double[][] ms = new double[2][rounds];
            for (int r = -2; r < rounds; r++) {
                for (int k = 0; k < 2; k++) {
                    boolean explicit = (k + Math.max(r, 0)) % 2 == 0;
                    try (NDManager sub = m.newSubManager()) {
                        NDArray q = sub.randomNormal(new Shape(n, 8, len, 32));
                        NDArray kk = sub.randomNormal(new Shape(n, 8, len, 32));
                        NDArray v = sub.randomNormal(new Shape(n, 8, len, 32));
                        q.setRequiresGradient(true);
                        kk.setRequiresGradient(true);
                        v.setRequiresGradient(true);
                        long t = System.nanoTime();
                        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                            NDArray y;
                            if (explicit) {
                                y = q.matMul(kk.transpose(0, 1, 3, 2)).add(mask).softmax(-1).matMul(v);
                            } else {
                                y = Kernels.attention(q, kk, v, true, 1.0);
                            }
                            gc.backward(y.sum());
                        }
                        q.getGradient().toFloatArray();
                        double dt = (System.nanoTime() - t) / 1e6;
                        if (r >= 0) {
                            ms[explicit ? 0 : 1][r] = dt;
                        }
                    }
                }
            }
            Arrays.sort(ms[0]);
            Arrays.sort(ms[1]);
            System.out.printf("[%d, 8, %d, 32] fwd+bwd, %d threads: explicit median %.1f ms, flash median %.1f ms, "
                    + "flash/explicit %.2fx%n", n, len, threads, ms[0][rounds / 2], ms[1][rounds / 2],
                    ms[1][rounds / 2] / ms[0][rounds / 2]);
        }
    }
}
