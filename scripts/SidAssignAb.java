import dev.rq.data.items.ItemInput;
import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.sid.AssignSidJob;
import dev.rq.model.engine.Precision;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * In-process A/B of one switch of {@code rq assign-sid} (a JVM property KEY read per call: "on" =
 * unset, "off" = {@code -DKEY=false}; by default {@code rq.items.fast_parquet}, the fast Parquet
 * reader {@code dev.rq.data.items.ParquetItems} against Spark's; {@code rq.sid.level_chunks}, the
 * levels searched 1,024 rows at a time), the same job alternating run by run in one JVM on one Spark
 * session ({@code local[WORKERS]}).
 * Prints per run the job's seconds, its task.read / task.codes / task.total (seconds summed over
 * the encode tasks), and the process CPU seconds of the run (driver and tasks: less sensitive to
 * other processes than wall time); then the medians, and whether the last ID tables of A and B are
 * equal (item_id, sid, dedup, sid_text).
 *
 * <pre>
 * java ... scripts/SidAssignAb.java CKPT ITEMS WORK [ROUNDS=3] [WORKERS=1] [PRECISION=fp32] [KEY]
 * </pre>
 */
public class SidAssignAb {
    public static void main(String[] a) throws Exception {
        String ckpt = a[0];
        String items = a[1];
        String work = a[2];
        int rounds = a.length > 3 ? Integer.parseInt(a[3]) : 3;
        int workers = a.length > 4 ? Integer.parseInt(a[4]) : 1;
        Precision precision = a.length > 5 ? Precision.parse(a[5]) : Precision.FP32;
        String key = a.length > 6 ? a[6] : ItemInput.FAST_PARQUET;
        SparkSession spark = SparkSessions.getOrCreate("sid-read-ab", workers);
        spark.sparkContext().setLogLevel("WARN");
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        Map<String, List<double[]>> runs = new java.util.TreeMap<>();
        for (int r = 0; r < rounds; r++) {
            for (String side : r % 2 == 0 ? List.of("on", "off") : List.of("off", "on")) {
                System.setProperty(key, Boolean.toString(side.equals("on")));
                long cpu = os.getProcessCpuTime();
                AssignSidJob.Result res = AssignSidJob.run(spark, new AssignSidJob.Options(ckpt, items,
                        work + "/" + side, null, null, null, null, 4096, 0, 16, precision));
                double cpuS = (os.getProcessCpuTime() - cpu) / 1e9;
                var j = res.manifest().job();
                var p = j.phases();
                double[] v = {j.seconds(), p.get("encode"), p.get("task.read"), p.get("task.codes"),
                    p.get("task.total"), cpuS};
                runs.computeIfAbsent(side, k -> new ArrayList<>()).add(v);
                System.out.printf(Locale.ROOT, "round %d %-5s job %.1f s, encode %.1f s, task.read %.2f, task.codes %.2f,"
                        + " task.total %.2f, process CPU %.1f s; load %.1f%n", r, side, v[0], v[1], v[2], v[3], v[4], v[5],
                        os.getSystemLoadAverage());
            }
        }
        String[] names = {"job s", "encode s", "task.read", "task.codes", "task.total", "process CPU s"};
        for (int k = 0; k < names.length; k++) {
            double f = median(runs.get("on"), k);
            double s = median(runs.get("off"), k);
            System.out.printf(Locale.ROOT, "median %-14s on %.2f  off %.2f  on/off %.3f (%s)%n", names[k], f, s, f / s,
                    key);
        }
        Dataset<Row> x = spark.read().parquet(work + "/on/ids").select("item_id", "sid", "dedup", "sid_text");
        Dataset<Row> y = spark.read().parquet(work + "/off/ids").select("item_id", "sid", "dedup", "sid_text");
        long n = x.count();
        long diff = x.exceptAll(y).count() + y.exceptAll(x).count();
        System.out.printf(Locale.ROOT, "ID tables: %d rows, %d differing rows (%s)%n", n, diff,
                diff == 0 ? "equal" : "NOT EQUAL");
        spark.stop();
    }

    private static double median(List<double[]> v, int k) {
        double[] s = v.stream().mapToDouble(r -> r[k]).sorted().toArray();
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
