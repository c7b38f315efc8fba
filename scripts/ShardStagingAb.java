import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.rq.model.config.Configs;
import dev.rq.model.engine.Engines;
import dev.rq.model.train.GradientReduction;
import dev.rq.model.train.OptimizerShards;
import dev.rq.model.vae.RqVae;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The sharded parameter sync (OptimizerShards.sync, 25 MB buckets) in place (views of contiguous float32 CPU
 * tensors) vs staged through libtorch copies of every bucket piece (the GPU path, forced on the CPU by
 * -Drq.shards.views=false), alternating round by round: N ranks as threads of this JVM over the TCP ring on
 * loopback, the bench64 RQ-VAE's parameters; rank 0's wall time and thread CPU per sync, medians. On a GPU the
 * staged copies are device-host transfers instead; this measures the path's host-side overhead only.
 *
 * After `bin/rq --help`, from the repository root:
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true -Xmx3g \
 *     -cp "rq-model/target/classes:$(cat spark-jobs/target/classpath.txt)" scripts/ShardStagingAb.java ROUNDS [N]
 */
public class ShardStagingAb {

    public static void main(String[] a) throws Exception {
        int rounds = Integer.parseInt(a[0]);
        int n = a.length > 1 ? Integer.parseInt(a[1]) : 2;
        Engines.pytorch(1);
        var rv = new dev.rq.collective.LocalRendezvous(n, java.time.Duration.ofSeconds(60));
        var mx = ManagementFactory.getThreadMXBean();
        double[][] times = new double[4][rounds]; // in-place wall, staged wall, in-place cpu, staged cpu
        long[] count = new long[1];
        Thread[] threads = new Thread[n];
        Throwable[] errors = new Throwable[n];
        for (int rank = 0; rank < n; rank++) {
            int me = rank;
            threads[rank] = new Thread(() -> {
                try (NDManager m = Engines.newManager();
                        var c = dev.rq.collective.TcpRingCollective.builder().rank(me).worldSize(n).host("127.0.0.1")
                                .rendezvous(rv.forRank(me)).runToken("bench").timeout(java.time.Duration.ofSeconds(120))
                                .connect()) {
                    RqVae v = RqVae.create(Configs.loadRqVae(Path.of("conf/rqvae/bench64.yaml"), List.of()).model(), m, 0);
                    List<NDArray> params = new ArrayList<>(v.params().trainable().values());
                    long[] sz = params.stream().mapToLong(NDArray::size).toArray();
                    count[0] = Arrays.stream(sz).sum();
                    int[] owner = OptimizerShards.owners(sz, n);
                    OptimizerShards shards = new OptimizerShards(c, GradientReduction.DEFAULT_BUCKET_ELEMENTS);
                    for (int r = -1; r < rounds; r++) { // round -1: warm-up
                        for (int staged : (r % 2 == 0 ? new int[] {0, 1} : new int[] {1, 0})) {
                            if (me == 0) {
                                System.setProperty(OptimizerShards.VIEWS, staged == 1 ? "false" : "true");
                            }
                            c.barrier(); // every rank reads the switch after rank 0 set it
                            long w = System.nanoTime();
                            long t = mx.getCurrentThreadCpuTime();
                            shards.sync(params, owner);
                            if (me == 0 && r >= 0) {
                                times[staged][r] = (System.nanoTime() - w) / 1e6;
                                times[2 + staged][r] = (mx.getCurrentThreadCpuTime() - t) / 1e6;
                            }
                            c.barrier(); // nobody reads the switch while rank 0 changes it
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
        for (int r = n - 1; r >= 0; r--) { // the first failure is usually the last rank's; the others see its exit
            if (errors[r] != null) {
                throw new RuntimeException("rank " + r, errors[r]);
            }
        }
        System.out.printf("bench64 RQ-VAE parameter sync over the TCP ring (%d ranks, rank 0, medians of %d, %,d values):"
                + " in place %.1f ms wall / %.1f ms CPU; staged %.1f ms wall / %.1f ms CPU (staged/in place: wall %.2f,"
                + " CPU %.2f)%n", n, rounds, count[0], median(times[0]), median(times[2]), median(times[1]),
                median(times[3]), median(times[1]) / median(times[0]), median(times[3]) / median(times[2]));
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
