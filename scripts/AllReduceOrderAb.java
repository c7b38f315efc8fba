import dev.rq.collective.LocalRendezvous;
import dev.rq.collective.TcpRingCollective;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.CyclicBarrier;

/**
 * train.allreduce_order A/B: one all-reduce of a bucket (float[B]) in the ring's order against the tree
 * order (TcpRingCollective.Builder.treeOrder) round the ring and over the mesh (Builder.mesh), N ranks as N
 * threads of this JVM over real TCP on loopback. Every rank holds one collective per variant; the variants
 * alternate call by call in a rotating order (none always first), the input restored before each call
 * (untimed). Prints per order the median over the
 * rounds of rank 0's wall time per call and of the ranks' summed thread CPU per call, and the tree/ring
 * ratios. Loopback on a shared 2-core machine is not a network: the transfer is memory copies through
 * the kernel, and with N > 2 ranks on 2 cores the ranks also wait for each other's CPU.
 *
 * After `bin/rq --help`, from the repository root:
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true -Xmx3g \
 *     -cp "rq-model/target/classes:spark-jobs/target/classes:$(cat spark-jobs/target/classpath.txt)" \
 *     scripts/AllReduceOrderAb.java ROUNDS N[,N...] BUCKET_MB[,BUCKET_MB...]
 */
public class AllReduceOrderAb {

    static final int V = 3; // ring order, tree order round the ring, tree order over the mesh

    public static void main(String[] a) throws Exception {
        int rounds = Integer.parseInt(a[0]);
        int[] ns = Arrays.stream(a[1].split(",")).mapToInt(Integer::parseInt).toArray();
        double[] mbs = Arrays.stream(a[2].split(",")).mapToDouble(Double::parseDouble).toArray();
        System.out.printf("load before: %.2f%n", ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        for (double mb : mbs) {
            for (int n : ns) {
                run(n, (int) (mb * 1e6 / 4), rounds, mb);
            }
        }
        System.out.printf("load after: %.2f%n", ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
    }

    static void run(int n, int floats, int rounds, double mb) throws Exception {
        var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        LocalRendezvous rvRing = new LocalRendezvous(n, Duration.ofSeconds(30));
        LocalRendezvous rvTree = new LocalRendezvous(n, Duration.ofSeconds(30));
        CyclicBarrier sync = new CyclicBarrier(n);
        LocalRendezvous rvMesh = new LocalRendezvous(n, Duration.ofSeconds(30));
        long[][] wall = new long[V][rounds]; // rank 0
        long[][][] cpu = new long[V][n][rounds];
        Throwable[] errors = new Throwable[n];
        Thread[] threads = new Thread[n];
        for (int r = 0; r < n; r++) {
            int rank = r;
            threads[r] = new Thread(() -> {
                try (TcpRingCollective ring = TcpRingCollective.builder().rank(rank).worldSize(n)
                        .rendezvous(rvRing.forRank(rank)).runToken("ab-ring").timeout(Duration.ofSeconds(120)).connect();
                        TcpRingCollective tree = TcpRingCollective.builder().rank(rank).worldSize(n)
                                .rendezvous(rvTree.forRank(rank)).runToken("ab-tree").treeOrder(true).mesh(false)
                                .timeout(Duration.ofSeconds(120)).connect();
                        TcpRingCollective mesh = TcpRingCollective.builder().rank(rank).worldSize(n)
                                .rendezvous(rvMesh.forRank(rank)).runToken("ab-mesh").treeOrder(true).mesh(true)
                                .timeout(Duration.ofSeconds(120)).connect()) {
                    TcpRingCollective[] cs = {ring, tree, mesh};
                    float[] data = new float[floats];
                    SplittableRandom rnd = new SplittableRandom(rank);
                    for (int i = 0; i < floats; i++) {
                        data[i] = (float) (rnd.nextDouble() - 0.5);
                    }
                    float[] work = new float[floats];
                    for (int i = -2; i < rounds; i++) { // 2 warm-up rounds
                        for (int j = 0; j < V; j++) {
                            int v = Math.floorMod(i + ((i / V) % 2 == 0 ? j : -j), V); // rotating: none always first
                            System.arraycopy(data, 0, work, 0, floats);
                            sync.await();
                            long c0 = mx.getCurrentThreadCpuTime();
                            long t0 = System.nanoTime();
                            cs[v].allReduceSum(work);
                            long t1 = System.nanoTime();
                            long c1 = mx.getCurrentThreadCpuTime();
                            if (i >= 0) {
                                cpu[v][rank][i] = c1 - c0;
                                if (rank == 0) {
                                    wall[v][i] = t1 - t0;
                                }
                            }
                        }
                    }
                } catch (Throwable e) {
                    errors[rank] = e;
                }
            }, "ab-rank-" + r);
            threads[r].start();
        }
        for (Thread t : threads) {
            t.join();
        }
        for (Throwable e : errors) {
            if (e != null) {
                throw new RuntimeException(e);
            }
        }
        double[] w = new double[V];
        double[] c = new double[V];
        for (int v = 0; v < V; v++) {
            w[v] = median(wall[v]) / 1e6;
            long[] sum = new long[rounds];
            for (int r = 0; r < n; r++) {
                for (int i = 0; i < rounds; i++) {
                    sum[i] += cpu[v][r][i];
                }
            }
            c[v] = median(sum) / 1e6;
        }
        System.out.printf("N=%d bucket %.3g MB (%d floats), %d rounds: wall rank 0 ring %.2f ms, tree round the ring %.2f ms"
                + " (%.3fx), tree over the mesh %.2f ms (%.3fx); CPU all ranks ring %.2f ms, tree round the ring %.2f ms"
                + " (%.3fx), tree over the mesh %.2f ms (%.3fx)%n",
                n, mb, floats, rounds, w[0], w[1], w[1] / w[0], w[2], w[2] / w[0], c[0], c[1], c[1] / c[0], c[2],
                c[2] / c[0]);
    }

    static double median(long[] x) {
        long[] s = x.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2.0;
    }
}
