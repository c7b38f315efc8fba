import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.engine.Engines;
import dev.rq.model.transformer.Dropout;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;

/**
 * In-process A/B of the dropout masks of one bench64 training step's forward pass (8 body
 * applications on [16, 65, 256], 4 head applications on [1024, 4, 256], p = 0.1; 6.3 M elements):
 * forward only, one generator per sample (16): the byte masks drawn per sample on the common pool (default) against the session-6 float mask
 * drawn serially ({@code -Drq.dropout.serial_float_mask=true}), alternating, medians of the wall time
 * and of the calling thread's CPU time. With {@code -Djava.util.concurrent.ForkJoinPool.common.parallelism=0}
 * the byte masks are drawn on the calling thread too (the work, comparable by thread CPU time).
 *
 * After `bin/rq --help` (builds the jars), from the repository root (~20 s):
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true \
 *     -cp "$(cat spark-jobs/target/classpath.txt):rq-model/target/classes" scripts/DropoutAb.java [threads] [rounds]
 */
public class DropoutAb {
    public static void main(String[] a) {
        int threads = a.length > 0 ? Integer.parseInt(a[0]) : 2;
        int rounds = a.length > 1 ? Integer.parseInt(a[1]) : 9;
        Engines.pytorch(threads);
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        String[] names = {"byte masks", "serial float mask"};
        double[][] wall = new double[2][rounds];
        double[][] cpu = new double[2][rounds];
        try (NDManager m = Engines.newManager()) {
            NDArray body = m.ones(new Shape(16, 65, 256));
            NDArray head = m.ones(new Shape(1024, 4, 256));
            for (int r = -2; r < rounds; r++) {
                for (int k = 0; k < 2; k++) {
                    int v = (k + Math.max(r, 0)) % 2;
                    System.setProperty("rq.dropout.serial_float_mask", String.valueOf(v == 1));
                    try (NDManager step = m.newSubManager()) {
                        Dropout d = Dropout.forSamples(0, 0, 16, 1, r + 10);
                        long c0 = mx.getCurrentThreadCpuTime();
                        long t0 = System.nanoTime();
                        for (int i = 0; i < 8; i++) {
                            d.apply(body, 0.1).attach(step);
                        }
                        for (int i = 0; i < 4; i++) { // the head's [B·T, Dd, D] rows: 16 samples' blocks
                            d.apply(head, 0.1).attach(step);
                        }
                        if (r >= 0) {
                            wall[v][r] = (System.nanoTime() - t0) / 1e6;
                            cpu[v][r] = (mx.getCurrentThreadCpuTime() - c0) / 1e6;
                        }
                    }
                }
            }
        }
        System.out.printf("dropout masks of one bench64 step, %d threads, %d rounds, medians:%n", threads, rounds);
        for (int v = 0; v < 2; v++) {
            Arrays.sort(wall[v]);
            Arrays.sort(cpu[v]);
            System.out.printf("  %-20s wall %7.1f ms   thread cpu %7.1f ms%n", names[v], wall[v][rounds / 2], cpu[v][rounds / 2]);
        }
        System.out.printf("  serial float / byte: wall %.2fx, cpu %.2fx%n", wall[1][rounds / 2] / wall[0][rounds / 2],
                cpu[1][rounds / 2] / cpu[0][rounds / 2]);
    }
}
