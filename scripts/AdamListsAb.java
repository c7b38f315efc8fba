import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.nn.Tensors;
import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * In-process A/B of the Adam update alone: one libtorch loop over all tensors (rq.adam.lists, the
 * default) against the per-tensor DJL calls, alternating in one JVM, on 108 tensors with the bench64
 * RQ-Transformer's block shapes (5.5 M values; the model has 108 tensors, 5.06 M values). Prints the
 * median ms per update of each.
 *
 * After `bin/rq --help` (builds the jars), from the repository root (about 1 min idle):
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true \
 *     -cp "$(cat spark-jobs/target/classpath.txt)" scripts/AdamListsAb.java [threads] [rounds]
 */
public class AdamListsAb {
    public static void main(String[] a) throws Exception {
        int threads = a.length > 0 ? Integer.parseInt(a[0]) : 2;
        int rounds = a.length > 1 ? Integer.parseInt(a[1]) : 7;
        Engines.pytorch(threads);
        JniUtils.setGradMode(false);
        // bench64 transformer: 6 blocks x (2 LN x 2 + 4 attn [256,256]+bias + mlp [1024,256]+[1024] + [256,1024]+[256])
        // + embeddings; approximated by its block tensors plus 12 small ones to 108 tensors
        java.util.List<long[]> shapes = new java.util.ArrayList<>();
        for (int b = 0; b < 6; b++) {
            for (int i = 0; i < 4; i++) { shapes.add(new long[] {256}); }
            for (int i = 0; i < 4; i++) { shapes.add(new long[] {256, 256}); shapes.add(new long[] {256}); }
            shapes.add(new long[] {1024, 256}); shapes.add(new long[] {1024});
            shapes.add(new long[] {256, 1024}); shapes.add(new long[] {256});
        }
        while (shapes.size() < 108) { shapes.add(new long[] {1024, 64}); }
        try (NDManager m = Engines.newManager()) {
            Map<String, NDArray> p = new LinkedHashMap<>();
            Map<String, NDArray> g = new LinkedHashMap<>();
            long total = 0;
            for (int i = 0; i < shapes.size(); i++) {
                Shape s = new Shape(shapes.get(i));
                total += s.size();
                float[] v = new float[Math.toIntExact(s.size())];
                Arrays.fill(v, 0.01f * (i + 1));
                p.put("p" + i, Tensors.of(m, v, s));
                g.put("p" + i, Tensors.of(m, v, s));
            }
            System.out.println(shapes.size() + " tensors, " + total + " values, " + threads + " threads");
            Class<?> adamClass = Class.forName("dev.rq.model.train.Adam");
            Object adam = adamClass.getConstructor(Map.class, NDManager.class, double.class, double.class, double.class,
                    double.class, boolean.class).newInstance(p, m, 0.9, 0.95, 1e-8, 1e-4, true);
            Method update = adamClass.getDeclaredMethod("update", Map.class, Map.class, double.class, boolean.class);
            update.setAccessible(true);
            double[][] ms = new double[2][rounds];
            for (int r = -2; r < rounds; r++) {
                for (int k = 0; k < 2; k++) {
                    boolean lists = (k + Math.max(r, 0)) % 2 == 0;
                    try (NDManager sub = m.newSubManager()) {
                        long t = System.nanoTime();
                        update.invoke(adam, p, g, 5e-4, lists);
                        double dt = (System.nanoTime() - t) / 1e6;
                        if (r >= 0) { ms[lists ? 0 : 1][r] = dt; }
                    }
                }
            }
            Arrays.sort(ms[0]); Arrays.sort(ms[1]);
            System.out.printf("lists median %.1f ms, per-tensor median %.1f ms, ratio %.2fx%n", ms[0][rounds / 2],
                    ms[1][rounds / 2], ms[1][rounds / 2] / ms[0][rounds / 2]);
        }
    }
}
