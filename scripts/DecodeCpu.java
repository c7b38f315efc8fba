import com.sun.management.OperatingSystemMXBean;
import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.decode.DecodeJob;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.apache.spark.sql.SparkSession;

/**
 * CPU and heap of {@code rq decode} in one JVM (Spark local[1], so the task and the driver share it):
 * one warm-up decode, then {@code rounds} decodes of the same rows into fresh folders; per round the
 * process CPU time (all threads: the task, Spark, GC) and the peak heap (sum of heap pools' peaks
 * after a GC and a peak reset). Compiles against the decode job before (driver-side) and after
 * (executor-side) the distributed decode, so the same script measures both: run it once per build,
 * alternating, and compare medians.
 *
 * From the repository root, after a build (Spark's Kryo needs bin/rq's --add-opens flags, OPENS):
 *   GLIBC_TUNABLES=... java $(sed -n 34,41p bin/rq | tr -d '()' | sed 's/OPENS=//') -Dai.djl.offline=true -Xmx3g \
 *     -cp "rq-model/target/classes:spark-jobs/target/classes:$(cat spark-jobs/target/classpath.txt)" \
 *     scripts/DecodeCpu.java CKPT TOKENS OUT_ROOT [rounds=5] [limit=186: the emoji validation split; 0 = every row, after only] [split=validation]
 */
public class DecodeCpu {
    public static void main(String[] a) throws Exception {
        String ckpt = a[0];
        String tokens = a[1];
        String out = a[2];
        int rounds = a.length > 3 ? Integer.parseInt(a[3]) : 5;
        int limit = a.length > 4 ? Integer.parseInt(a[4]) : 186;
        String split = a.length > 5 ? a[5] : "validation";
        OperatingSystemMXBean os = (OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        SparkSession spark = SparkSessions.getOrCreate("decode-cpu", 1);
        List<Double> cpu = new ArrayList<>();
        List<Double> heap = new ArrayList<>();
        for (int r = -1; r < rounds; r++) {
            System.gc();
            for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
                if (p.getType() == MemoryType.HEAP) {
                    p.resetPeakUsage();
                }
            }
            long t0 = os.getProcessCpuTime();
            DecodeJob.Result res = DecodeJob.run(spark, new DecodeJob.Options(ckpt, tokens, out + "/r" + (r + 1),
                    limit, split, null, false, 1));
            double ms = (os.getProcessCpuTime() - t0) / 1e6;
            long peak = 0;
            for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
                if (p.getType() == MemoryType.HEAP) {
                    peak += p.getPeakUsage().getUsed();
                }
            }
            System.out.printf("round %d: %d rows (%d images back), process CPU %.0f ms, peak heap %.1f MiB%n", r + 1,
                    res.files().size(), res.images().length / (3 * res.resolution() * res.resolution()), ms, peak / 1048576.0);
            if (r >= 0) {
                cpu.add(ms);
                heap.add(peak / 1048576.0);
            }
        }
        Collections.sort(cpu);
        Collections.sort(heap);
        System.out.printf("median process CPU %.0f ms, median peak heap %.1f MiB over %d rounds%n",
                cpu.get(cpu.size() / 2), heap.get(heap.size() / 2), rounds);
        spark.stop();
    }
}
