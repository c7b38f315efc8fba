import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.sid.AssignSidJob;
import dev.rq.model.engine.Precision;
import java.lang.management.ManagementFactory;
import java.util.Locale;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobEnd;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerStageCompleted;
import org.apache.spark.sql.SparkSession;

/**
 * The Spark jobs and stages of {@code rq assign-sid} runs: per job its wall time, per stage its
 * tasks, summed executor run and CPU time; per run the manifest's phases and the process CPU.
 *
 * <pre>
 * java ... scripts/SidJobProbe.java CKPT ITEMS OUT [RUNS=2] [WORKERS=2] [PRECISION=fp32]
 * </pre>
 */
public class SidJobProbe {
    public static void main(String[] a) throws Exception {
        int runs = a.length > 3 ? Integer.parseInt(a[3]) : 2;
        int workers = a.length > 4 ? Integer.parseInt(a[4]) : 2;
        Precision precision = a.length > 5 ? Precision.parse(a[5]) : Precision.FP32;
        SparkSession spark = SparkSessions.getOrCreate("sid-probe", workers);
        spark.sparkContext().setLogLevel("WARN");
        long[] t0 = {System.nanoTime()};
        java.util.Map<Integer, Long> starts = new java.util.concurrent.ConcurrentHashMap<>();
        spark.sparkContext().addSparkListener(new SparkListener() {
            @Override
            public void onJobStart(SparkListenerJobStart e) {
                starts.put(e.jobId(), System.nanoTime());
                System.out.printf(Locale.ROOT, "  %7.3f job %d start (%d stages)%n", (System.nanoTime() - t0[0]) / 1e9,
                        e.jobId(), e.stageIds().size());
            }

            @Override
            public void onJobEnd(SparkListenerJobEnd e) {
                System.out.printf(Locale.ROOT, "  %7.3f job %d end, %.3f s%n", (System.nanoTime() - t0[0]) / 1e9,
                        e.jobId(), (System.nanoTime() - starts.get(e.jobId())) / 1e9);
            }

            @Override
            public void onStageCompleted(SparkListenerStageCompleted e) {
                var s = e.stageInfo();
                var m = s.taskMetrics();
                String name = s.name().length() > 60 ? s.name().substring(0, 60) : s.name();
                System.out.printf(Locale.ROOT, "  %7.3f   stage %d '%s' %d tasks, run %.3f s, cpu %.3f s, gc %.3f s,"
                        + " shuffle w %d B r %d B%n", (System.nanoTime() - t0[0]) / 1e9, s.stageId(), name,
                        s.numTasks(), m.executorRunTime() / 1e3, m.executorCpuTime() / 1e9, m.jvmGCTime() / 1e3,
                        m.shuffleWriteMetrics().bytesWritten(), m.shuffleReadMetrics().totalBytesRead());
            }
        });
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        for (int r = 0; r < runs; r++) {
            t0[0] = System.nanoTime();
            long cpu = os.getProcessCpuTime();
            System.out.printf(Locale.ROOT, "run %d (load %.1f)%n", r, os.getSystemLoadAverage());
            AssignSidJob.Result res = AssignSidJob.run(spark, new AssignSidJob.Options(a[0], a[1], a[2], null, null,
                    null, null, 4096, 0, 16, precision));
            System.out.printf(Locale.ROOT, "run %d: %.2f s, process CPU %.1f s, load %.1f%n%s", r,
                    res.manifest().job().seconds(), (os.getProcessCpuTime() - cpu) / 1e9, os.getSystemLoadAverage(),
                    res.summary());
        }
        spark.stop();
    }
}
