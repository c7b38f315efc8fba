import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.config.Configs;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.train.GradientReduction;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.vae.RqVae;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The bucketed gradient all-reduce (GradientReduction, session 12) against one bucket holding all
 * gradients (the pre-session-12 layout: one float[] of the model's size), on gradients of the shapes of
 * the bench64 and both quickstart models and of a synthetic large parameter set: a two-rank collective
 * whose all-reduce adds the buffer to itself (the ring's transfer left out: what is timed is the host
 * copies, allocations and the scaling), the two variants alternating call by call in one JVM,
 * calling-thread CPU time (1 libtorch thread), and the Java heap each variant allocates on its first
 * call (its host buffers). Checks that both return the same bits.
 *
 * With a third argument {@code ring}: two ranks as two threads of this JVM over the real TCP ring on
 * loopback (TcpRingCollective), each reducing its own copy of the gradients; prints rank 0's wall time
 * per call (copies + transfer; a wall-clock figure: run it on an idle machine) and its thread CPU.
 *
 * After `bin/rq --help`, from the repository root:
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true -Xmx3g \
 *     -cp "$(cat spark-jobs/target/classpath.txt):rq-model/target/classes:spark-jobs/target/classes" \
 *     scripts/AllReduceBucketAb.java ROUNDS [LARGE_MILLIONS [ring|copies [BUCKET_MB]]]
 * (BUCKET_MB: the bucketed variant's size, default 25; "copies" = the default mode)
 */
public class AllReduceBucketAb {
    static long BUCKET;
    static String NAME;

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
        int rounds = Integer.parseInt(a[0]);
        long large = a.length > 1 ? Long.parseLong(a[1]) * 1_000_000L : 50_000_000L;
        double mb = a.length > 3 ? Double.parseDouble(a[3]) : 25;
        BUCKET = GradientReduction.bucketElements(mb);
        NAME = (mb == (long) mb ? String.valueOf((long) mb) : String.valueOf(mb)) + " MB buckets";
        Engines.pytorch(1);
        var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (NDManager m = Engines.newManager()) {
            Map<String, Map<String, NDArray>> models = new LinkedHashMap<>();
            for (String c : new String[] {"bench64", "quickstart"}) {
                models.put("RQ-VAE " + c, shapesOf(RqVae.create(Configs.loadRqVae(Path.of("conf/rqvae/" + c + ".yaml"),
                        List.of()).model(), m, 0).params().trainable(), m));
            }
            TransformerRunConfig tc = TransformerRunConfig.load(Path.of("conf/rqtransformer/quickstart.yaml"), List.of());
            models.put("RQ-Transformer quickstart", shapesOf(RqTransformer.create(tc.model(), m, 0).params().trainable(), m));
            Map<String, NDArray> big = new LinkedHashMap<>(); // 6 equal tensors, each larger than a 25 MB bucket (the default)
            for (int k = 0; k < 6; k++) {
                big.put("w" + k, m.randomNormal(new Shape(large / 6)));
            }
            models.put("synthetic " + large / 1_000_000 + " M", big);
            if (a.length > 2 && a[2].equals("ring")) {
                ring(models, rounds);
                return;
            }
            Collective c = new Doubling();
            long[] buckets = {1L << 40, BUCKET};
            String[] names = {"one bucket (before)", NAME};
            for (var e : models.entrySet()) {
                long n = e.getValue().values().stream().mapToLong(NDArray::size).sum();
                GradientReduction.Buffer[] bufs = {new GradientReduction.Buffer(buckets[0]),
                        new GradientReduction.Buffer(buckets[1])};
                double[][] cpu = new double[2][rounds];
                long[] heap = new long[2];
                float[][] first = new float[2][];
                for (int r = 0; r < rounds; r++) {
                    for (int v : (r % 2 == 0 ? new int[] {0, 1} : new int[] {1, 0})) {
                        try (NDManager s = m.newSubManager()) {
                            Map<String, NDArray> local = new LinkedHashMap<>();
                            e.getValue().forEach((k, g) -> local.put(k, g.duplicate()));
                            local.values().forEach(g -> g.attach(s));
                            long h = mx.getCurrentThreadAllocatedBytes();
                            long t = mx.getCurrentThreadCpuTime();
                            var out = GradientReduction.reduce(local, new float[3], 2, c, null, bufs[v]);
                            cpu[v][r] = (mx.getCurrentThreadCpuTime() - t) / 1e6;
                            if (r == 0) {
                                heap[v] = mx.getCurrentThreadAllocatedBytes() - h;
                                first[v] = out.get(out.keySet().iterator().next()).toFloatArray();
                            }
                        }
                    }
                }
                if (!Arrays.equals(first[0], first[1])) {
                    throw new AssertionError(e.getKey() + ": the variants differ");
                }
                System.out.printf("%s: %,d gradient values; thread CPU per call (median of %d): %s %.2f ms,"
                        + " %s %.2f ms (%.2fx); Java heap allocated by the first call: %.1f MB vs %.1f MB%n",
                        e.getKey(), n, rounds, names[0], median(cpu[0]), names[1], median(cpu[1]),
                        median(cpu[0]) / median(cpu[1]), heap[0] / 1e6, heap[1] / 1e6);
            }
        }
    }

    /** Rank 0's wall and thread CPU time per call over a 2-rank TCP ring, the variants alternating. */
    static void ring(Map<String, Map<String, NDArray>> models, int rounds) throws Exception {
        var rv = new dev.rq.collective.LocalRendezvous(2, java.time.Duration.ofSeconds(60));
        long[] buckets = {1L << 40, BUCKET};
        var mx = ManagementFactory.getThreadMXBean();
        double[][][] times = new double[models.size()][4][rounds]; // wall one, wall bucketed, cpu one, cpu bucketed
        Thread[] threads = new Thread[2];
        Throwable[] errors = new Throwable[2];
        for (int rank = 0; rank < 2; rank++) {
            int me = rank;
            threads[rank] = new Thread(() -> {
                try (var c = dev.rq.collective.TcpRingCollective.builder().rank(me).worldSize(2).host("127.0.0.1")
                        .rendezvous(rv.forRank(me)).runToken("bench").timeout(java.time.Duration.ofSeconds(120))
                        .connect()) {
                    int mi = 0;
                    for (var e : models.entrySet()) {
                        GradientReduction.Buffer[] bufs = {new GradientReduction.Buffer(buckets[0]),
                                new GradientReduction.Buffer(buckets[1])};
                        for (int r = -1; r < rounds; r++) { // round -1: warm-up
                            for (int v : (r % 2 == 0 ? new int[] {0, 1} : new int[] {1, 0})) {
                                try (NDManager s = e.getValue().values().iterator().next().getManager().newSubManager()) {
                                    Map<String, NDArray> local = new LinkedHashMap<>();
                                    e.getValue().forEach((k, g) -> local.put(k, g.duplicate()));
                                    local.values().forEach(g -> g.attach(s));
                                    c.barrier();
                                    long w = System.nanoTime();
                                    long t = mx.getCurrentThreadCpuTime();
                                    GradientReduction.reduce(local, new float[3], 2, c, null, bufs[v]);
                                    if (me == 0 && r >= 0) {
                                        times[mi][v][r] = (System.nanoTime() - w) / 1e6;
                                        times[mi][2 + v][r] = (mx.getCurrentThreadCpuTime() - t) / 1e6;
                                    }
                                }
                            }
                        }
                        mi++;
                    }
                } catch (Throwable t) {
                    errors[me] = t;
                }
            }, "rank-" + rank);
            threads[rank].start();
        }
        for (Thread t : threads) {
            t.join();
        }
        for (Throwable t : errors) {
            if (t != null) {
                throw new RuntimeException(t);
            }
        }
        int mi = 0;
        for (var e : models.entrySet()) {
            long n = e.getValue().values().stream().mapToLong(NDArray::size).sum();
            double[][] x = times[mi++];
            System.out.printf("%s over the TCP ring (2 ranks, rank 0, medians of %d): %,d values; one bucket %.1f ms"
                    + " wall / %.1f ms CPU, " + NAME + " %.1f ms wall / %.1f ms CPU (wall %.2fx)%n", e.getKey(), rounds, n,
                    median(x[0]), median(x[2]), median(x[1]), median(x[3]), median(x[0]) / median(x[1]));
        }
    }

    /** Random values in the parameters' shapes (the gradients' stand-ins). */
    static Map<String, NDArray> shapesOf(Map<String, NDArray> params, NDManager m) {
        Map<String, NDArray> out = new LinkedHashMap<>();
        params.forEach((k, p) -> out.put(k, m.randomNormal(p.getShape())));
        return out;
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
