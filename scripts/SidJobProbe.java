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
 * tasks, summed executor run and CPU time (for stages of more than 2 tasks also the span of its
 * tasks, their summed time and the last task's lone tail); per run the manifest's phases and the
 * process CPU.
 *
 * <pre>
 * java ... scripts/SidJobProbe.java CKPT ITEMS OUT [RUNS=2] [WORKERS=2] [PRECISION=fp32] [KEY]
 * (KEY: a JVM property set to false in odd runs, true in even ones: an in-process A/B)
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

            final java.util.Map<Integer, java.util.List<long[]>> tasks = new java.util.concurrent.ConcurrentHashMap<>();

            @Override
            public void onTaskEnd(org.apache.spark.scheduler.SparkListenerTaskEnd e) {
                tasks.computeIfAbsent(e.stageId(), k -> java.util.Collections.synchronizedList(new java.util.ArrayList<>()))
                        .add(new long[] {e.taskInfo().launchTime(), e.taskInfo().finishTime()});
            }

            @Override
            public void onStageCompleted(SparkListenerStageCompleted e) {
                var s = e.stageInfo();
                var ts = tasks.remove(s.stageId());
                if (ts != null && ts.size() > 2) { // slot time: busy vs the stage's span, and the last task's lone tail
                    long first = ts.stream().mapToLong(t -> t[0]).min().getAsLong();
                    long[] ends = ts.stream().mapToLong(t -> t[1]).sorted().toArray();
                    long busy = ts.stream().mapToLong(t -> t[1] - t[0]).sum();
                    System.out.printf(Locale.ROOT, "            stage %d: span %.3f s, busy %.3f slot-s, lone tail %.3f s,"
                            + " first launch +%.3f s after submission%n", s.stageId(), (ends[ends.length - 1] - first) / 1e3,
                            busy / 1e3, (ends[ends.length - 1] - ends[ends.length - 2]) / 1e3,
                            (first - (long) s.submissionTime().get()) / 1e3);
                }
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
            if (a.length > 6) {
                System.setProperty(a[6], Boolean.toString(r % 2 == 0));
            }
            System.out.printf(Locale.ROOT, "run %d (load %.1f)%s%n", r, os.getSystemLoadAverage(),
                    a.length > 6 ? " " + a[6] + "=" + System.getProperty(a[6]) : "");
            AssignSidJob.Result res = AssignSidJob.run(spark, new AssignSidJob.Options(a[0], a[1], a[2], null, null,
                    null, null, 4096, 0, 16, precision));
            System.out.printf(Locale.ROOT, "run %d: %.2f s, process CPU %.1f s, load %.1f%n%s", r,
                    res.manifest().job().seconds(), (os.getProcessCpuTime() - cpu) / 1e9, os.getSystemLoadAverage(),
                    res.summary());
        }
        spark.stop();
    }
}
