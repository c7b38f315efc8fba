import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.config.Configs;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.train.GradientReduction;
import dev.rq.model.train.OptimizerShards;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.vae.RqVae;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Sharded optimizer state ({@code train.shard_optimizer_state}, OptimizerShards), two measurements:
 *
 * 1. Adam moment bytes (m + v, float32) held per rank, the largest share over the ranks, for the bench64 RQ-VAE
 *    and the quickstart and in256-1.4B RQ-Transformers, N = 1, 2, 3, 4, 8: computed from the parameter shapes with
 *    the trainer's ownership (OptimizerShards.owners; nothing allocated for the transformers).
 * 2. Thread CPU of one Adam update (1 libtorch thread) over all tensors and over rank 0's share: what sharding saves.
 * 3. The step-time cost of the parameter sync (every tensor broadcast from its owner in 25 MB buckets): N ranks
 *    as threads of this JVM over the TCP ring on loopback, rank 0's wall time and thread CPU per sync, next to the
 *    gradient all-reduce of the same tensors (the step's existing transfer, 25 MB buckets), alternating call by
 *    call, medians; the bench64 RQ-VAE's parameters and a synthetic list of LARGE_MILLIONS parameters (6 tensors).
 *    Wall times are wall-clock figures (idle machine); thread CPU is the calling thread's (1 libtorch thread).
 *
 * After `bin/rq --help`, from the repository root:
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true -Xmx3g \
 *     -cp "rq-model/target/classes:$(cat spark-jobs/target/classpath.txt)" \
 *     scripts/ShardSyncAb.java ROUNDS [LARGE_MILLIONS [N]]
 */
public class ShardSyncAb {

    public static void main(String[] a) throws Exception {
        int rounds = Integer.parseInt(a[0]);
        long large = a.length > 1 ? Long.parseLong(a[1]) * 1_000_000L : 50_000_000L;
        int n = a.length > 2 ? Integer.parseInt(a[2]) : 2;
        Engines.pytorch(1);
        Map<String, long[]> sizes = new LinkedHashMap<>();
        try (NDManager m = Engines.newManager()) {
            sizes.put("RQ-VAE bench64", RqVae.create(Configs.loadRqVae(Path.of("conf/rqvae/bench64.yaml"), List.of())
                    .model(), m, 0).params().trainable().values().stream().mapToLong(NDArray::size).toArray());
        }
        for (String c : new String[] {"quickstart", "in256-1.4B"}) {
            TransformerRunConfig tc = TransformerRunConfig.load(Path.of("conf/rqtransformer/" + c + ".yaml"), List.of());
            sizes.put("RQ-Transformer " + c, RqTransformer.trainableShapes(tc.model()).values().stream()
                    .mapToLong(s -> Arrays.stream(s).reduce(1, (x, y) -> x * y)).toArray());
        }
        System.out.println("Adam moments (m + v, float32) per rank, the largest share (GB = 10^9 bytes):");
        for (var e : sizes.entrySet()) {
            long total = Arrays.stream(e.getValue()).sum();
            StringBuilder line = new StringBuilder(String.format("  %s (%,d parameters, %d tensors):", e.getKey(),
                    total, e.getValue().length));
            for (int ranks : new int[] {1, 2, 3, 4, 8}) {
                int[] owner = OptimizerShards.owners(e.getValue(), ranks);
                long[] per = new long[ranks];
                for (int i = 0; i < owner.length; i++) {
                    per[owner[i]] += e.getValue()[i];
                }
                long max = Arrays.stream(per).max().getAsLong();
                line.append(String.format(" N=%d %.3f GB (%.3f of 1/N)", ranks, 8.0 * max / 1e9,
                        (double) max * ranks / total));
            }
            System.out.println(line);
        }
        adam(rounds, large, n);
        sync(rounds, large, n);
    }

    /** Thread CPU of one Adam update over all tensors (unsharded) and over rank 0's share (sharded), alternating. */
    static void adam(int rounds, long large, int n) throws Exception {
        var mx = ManagementFactory.getThreadMXBean();
        try (NDManager m = Engines.newManager()) {
            for (int mi = 0; mi < 2; mi++) {
                Map<String, NDArray> params = new LinkedHashMap<>();
                if (mi == 0) {
                    RqVae v = RqVae.create(Configs.loadRqVae(Path.of("conf/rqvae/bench64.yaml"), List.of()).model(), m, 0);
                    params.putAll(v.params().trainable());
                } else {
                    for (int k = 0; k < 6; k++) {
                        params.put("w" + k, m.randomNormal(new Shape(large / 6)));
                    }
                }
                Map<String, NDArray> grads = new LinkedHashMap<>();
                params.forEach((k, p) -> grads.put(k, m.randomNormal(p.getShape()).mul(1e-3f)));
                List<String> keys = new ArrayList<>(params.keySet());
                int[] owner = OptimizerShards.owners(params.values().stream().mapToLong(NDArray::size).toArray(), n);
                java.util.Set<String> mine = new java.util.HashSet<>();
                for (int i = 0; i < keys.size(); i++) {
                    if (owner[i] == 0) {
                        mine.add(keys.get(i));
                    }
                }
                dev.rq.model.train.Adam[] adams = {
                    new dev.rq.model.train.Adam(params, k -> true, m, 0.9, 0.95, 1e-8, 1e-4, true),
                    new dev.rq.model.train.Adam(params, mine::contains, m, 0.9, 0.95, 1e-8, 1e-4, true)};
                double[][] cpu = new double[2][rounds];
                for (int r = -1; r < rounds; r++) {
                    for (int v : (r % 2 == 0 ? new int[] {0, 1} : new int[] {1, 0})) {
                        long t = mx.getCurrentThreadCpuTime();
                        adams[v].update(params, grads, 1e-4);
                        if (r >= 0) {
                            cpu[v][r] = (mx.getCurrentThreadCpuTime() - t) / 1e6;
                        }
                    }
                }
                System.out.printf("%s: Adam update thread CPU (1 thread, medians of %d): all tensors %.1f ms,"
                        + " rank 0's share of %d %.1f ms (%.2f)%n", mi == 0 ? "RQ-VAE bench64" : "synthetic "
                        + large / 1_000_000 + " M", rounds, median(cpu[0]), n, median(cpu[1]),
                        median(cpu[1]) / median(cpu[0]));
            }
        }
    }

    /** Rank 0's wall and thread CPU per parameter sync and per gradient all-reduce over an n-rank TCP ring. */
    static void sync(int rounds, long large, int n) throws Exception {
        var rv = new dev.rq.collective.LocalRendezvous(n, java.time.Duration.ofSeconds(60));
        var mx = ManagementFactory.getThreadMXBean();
        String[] names = {"RQ-VAE bench64", "synthetic " + large / 1_000_000 + " M"};
        double[][][] times = new double[2][4][rounds]; // sync wall, all-reduce wall, sync cpu, all-reduce cpu
        long[] counts = new long[2];
        Thread[] threads = new Thread[n];
        Throwable[] errors = new Throwable[n];
        for (int rank = 0; rank < n; rank++) {
            int me = rank;
            threads[rank] = new Thread(() -> {
                try (NDManager m = Engines.newManager();
                        var c = dev.rq.collective.TcpRingCollective.builder().rank(me).worldSize(n).host("127.0.0.1")
                                .rendezvous(rv.forRank(me)).runToken("bench").timeout(java.time.Duration.ofSeconds(120))
                                .connect()) {
                    for (int mi = 0; mi < 2; mi++) {
                        List<NDArray> params = new ArrayList<>();
                        if (mi == 0) {
                            RqVae v = RqVae.create(Configs.loadRqVae(Path.of("conf/rqvae/bench64.yaml"), List.of())
                                    .model(), m, 0);
                            params.addAll(v.params().trainable().values());
                        } else {
                            for (int k = 0; k < 6; k++) {
                                params.add(m.randomNormal(new Shape(large / 6)));
                            }
                        }
                        Map<String, NDArray> grads = new LinkedHashMap<>();
                        for (int k = 0; k < params.size(); k++) {
                            grads.put("g" + k, params.get(k).duplicate());
                        }
                        long[] sz = params.stream().mapToLong(NDArray::size).toArray();
                        counts[mi] = Arrays.stream(sz).sum();
                        int[] owner = OptimizerShards.owners(sz, n);
                        OptimizerShards shards = new OptimizerShards(c, GradientReduction.DEFAULT_BUCKET_ELEMENTS);
                        GradientReduction.Buffer buf = new GradientReduction.Buffer();
                        for (int r = -1; r < rounds; r++) { // round -1: warm-up
                            for (int v : (r % 2 == 0 ? new int[] {0, 1} : new int[] {1, 0})) {
                                c.barrier();
                                long w = System.nanoTime();
                                long t = mx.getCurrentThreadCpuTime();
                                if (v == 0) {
                                    shards.sync(params, owner);
                                } else {
                                    GradientReduction.reduce(grads, new float[3], n, c, null, buf);
                                }
                                if (me == 0 && r >= 0) {
                                    times[mi][v][r] = (System.nanoTime() - w) / 1e6;
                                    times[mi][2 + v][r] = (mx.getCurrentThreadCpuTime() - t) / 1e6;
                                }
                            }
                        }
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
        for (int mi = 0; mi < 2; mi++) {
            double[][] x = times[mi];
            System.out.printf("%s over the TCP ring (%d ranks, rank 0, medians of %d): %,d values; parameter sync"
                    + " %.1f ms wall / %.1f ms CPU; gradient all-reduce %.1f ms wall / %.1f ms CPU (sync/all-reduce:"
                    + " wall %.2f, CPU %.2f)%n", names[mi], n, rounds, counts[mi], median(x[0]), median(x[2]),
                    median(x[1]), median(x[3]), median(x[0]) / median(x[1]), median(x[2]) / median(x[3]));
        }
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
