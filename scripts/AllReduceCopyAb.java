import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.rq.model.config.Configs;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.nn.Tensors;
import dev.rq.model.train.GradientReduction;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.util.Rng;
import dev.rq.model.vae.RqVae;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Host-copy cost of the gradient all-reduce (GradientReduction) with and without the in-place tensor
 * views (-Drq.allreduce.views, session 11; since session 12 "false" means a libtorch copy of each gradient,
 * not the pre-session-11 Java copies: scripts/AllReduceBucketAb.java measures the buckets), on gradients of the shapes of both quickstart models: a
 * two-rank collective whose all-reduce adds the buffer to itself (the ring's transfer is left out, so
 * what is timed is the copies, allocations and the scaling), the two variants alternating call by call
 * in one JVM, calling-thread CPU time (1 libtorch thread). Also checks that both variants return the
 * same bits.
 *
 * After `bin/rq --help`, from the repository root:
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true \
 *     -cp "$(cat spark-jobs/target/classpath.txt):rq-model/target/classes" scripts/AllReduceCopyAb.java \
 *     conf/rqvae/quickstart.yaml conf/rqtransformer/quickstart.yaml ROUNDS
 */
public class AllReduceCopyAb {
    /** Two ranks holding the same values: the sum is x + x. */
    static final class Doubling implements Collective {
        public int rank() { return 0; }
        public int worldSize() { return 2; }
        public void allReduceSum(float[] d) { for (int i = 0; i < d.length; i++) d[i] = d[i] + d[i]; }
        public void allReduceSum(double[] d) { for (int i = 0; i < d.length; i++) d[i] = d[i] + d[i]; }
        public void broadcast(float[] d, int root) {}
        public List<byte[]> allGather(byte[] d) { return List.of(d, d); }
    }

    public static void main(String[] a) throws Exception {
        int rounds = Integer.parseInt(a[2]);
        Engines.pytorch(1);
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        try (NDManager m = Engines.newManager()) {
            Map<String, Map<String, NDArray>> models = new LinkedHashMap<>();
            models.put("stage 1", shapesOf(RqVae.create(Configs.loadRqVae(Path.of(a[0]), List.of()).model(), m, 0)
                    .params().trainable(), m));
            TransformerRunConfig tc = TransformerRunConfig.load(Path.of(a[1]), List.of());
            models.put("stage 2", shapesOf(RqTransformer.create(tc.model(), m, 0).params().trainable(), m));
            Collective c = new Doubling();
            for (var e : models.entrySet()) {
                long n = e.getValue().values().stream().mapToLong(NDArray::size).sum();
                GradientReduction.Buffer buf = new GradientReduction.Buffer();
                double[][] cpu = new double[2][rounds];
                for (int r = 0; r < rounds; r++) {
                    for (int v : (r % 2 == 0 ? new int[] {0, 1} : new int[] {1, 0})) {
                        System.setProperty(GradientReduction.VIEWS, v == 0 ? "false" : "true");
                        try (NDManager s = m.newSubManager()) {
                            Map<String, NDArray> local = new LinkedHashMap<>();
                            e.getValue().forEach((k, g) -> local.put(k, g.duplicate()));
                            local.values().forEach(g -> g.attach(s));
                            long t = mx.getCurrentThreadCpuTime();
                            var out = GradientReduction.reduce(local, new float[3], 2, c, null, buf);
                            cpu[v][r] = (mx.getCurrentThreadCpuTime() - t) / 1e6;
                            if (r == 0) {
                                check(e.getValue(), out, e.getKey());
                            }
                        }
                    }
                }
                double off = median(cpu[0]), on = median(cpu[1]);
                System.out.printf("%s: %,d gradient values; views off %.2f ms, views %.2f ms per call"
                        + " (thread CPU, median of %d): %.2fx%n", e.getKey(), n, off, on, rounds, off / on);
            }
        }
    }

    /** Random values in the parameters' shapes (the gradients' stand-ins). */
    static Map<String, NDArray> shapesOf(Map<String, NDArray> params, NDManager m) {
        Rng rng = new Rng(7);
        Map<String, NDArray> out = new LinkedHashMap<>();
        params.forEach((k, p) -> {
            float[] v = new float[Math.toIntExact(p.size())];
            for (int i = 0; i < v.length; i++) v[i] = (float) rng.nextGaussian();
            out.put(k, Tensors.of(m, v, p.getShape()));
        });
        return out;
    }

    /** Fails unless every reduced gradient is float32((x + x) · 0.5) = x, to the bit. */
    static void check(Map<String, NDArray> in, Map<String, NDArray> out, String what) {
        in.forEach((k, x) -> {
            float[] want = x.toFloatArray();
            float[] got = out.get(k).toFloatArray();
            for (int i = 0; i < want.length; i++) {
                float w = (want[i] + want[i]) * 0.5f;
                if (Float.floatToIntBits(w) != Float.floatToIntBits(got[i])) {
                    throw new AssertionError(what + " " + k + "[" + i + "]: " + got[i] + " != " + w);
                }
            }
        });
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
