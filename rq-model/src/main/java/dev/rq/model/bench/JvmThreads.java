package dev.rq.model.bench;

import java.io.IOException;
import java.lang.management.CompilationMXBean;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * CPU time so far of the JVM's own threads that compete with libtorch's intra-op threads for cores:
 * the JIT compiler threads and the garbage collector's threads. On a machine with as many cores as
 * intra-op threads, such a thread that takes a core stalls the whole parallel region at its next
 * barrier (docs/performance-history.md, "Session 10: the JVM's own work during timed calls").
 *
 * <p>On Linux, from {@code /proc/self/task/N/schedstat} (nanoseconds on the CPU; the thread's name
 * in {@code comm}: HotSpot's {@code C1/C2 CompilerThreadN}, {@code GC Thread#N}, {@code G1 ...}); elsewhere
 * from the management beans (compilation time and collection time, wall-clock estimates).
 *
 * @param jitNanos the JIT compiler threads' CPU time
 * @param gcNanos the garbage collector threads' CPU time
 */
public record JvmThreads(long jitNanos, long gcNanos) {

    private static final Path TASKS = Path.of("/proc/self/task");

    /** Thread id → kind (0 other, 1 JIT, 2 GC), from each thread's name, read once. */
    private static final Map<String, Integer> KINDS = new ConcurrentHashMap<>();

    /** @return the CPU time so far of the JIT compiler and GC threads */
    public static JvmThreads now() {
        if (Files.isDirectory(TASKS)) {
            long jit = 0;
            long gc = 0;
            try (DirectoryStream<Path> tasks = Files.newDirectoryStream(TASKS)) {
                for (Path t : tasks) {
                    try {
                        int kind = KINDS.computeIfAbsent(t.getFileName().toString(), id -> kind(t));
                        if (kind == 0) {
                            continue;
                        }
                        String s = Files.readString(t.resolve("schedstat"));
                        long ns = Long.parseLong(s.substring(0, s.indexOf(' ')));
                        jit += kind == 1 ? ns : 0;
                        gc += kind == 2 ? ns : 0;
                    } catch (IOException | RuntimeException gone) { // thread ended, or no schedstat
                        continue;
                    }
                }
                return new JvmThreads(jit, gc);
            } catch (IOException | RuntimeException e) {
                // fall through to the beans
            }
        }
        CompilationMXBean c = ManagementFactory.getCompilationMXBean();
        long jit = c != null && c.isCompilationTimeMonitoringSupported() ? c.getTotalCompilationTime() * 1_000_000L : 0;
        long gc = 0;
        for (GarbageCollectorMXBean b : ManagementFactory.getGarbageCollectorMXBeans()) {
            gc += Math.max(0, b.getCollectionTime()) * 1_000_000L;
        }
        return new JvmThreads(jit, gc);
    }

    private static int kind(Path task) {
        String comm;
        try {
            comm = Files.readString(task.resolve("comm")).strip();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return comm.contains("CompilerThre") ? 1 : comm.startsWith("GC ") || comm.startsWith("G1 ") ? 2 : 0;
    }

    /** @return the CPU time of each kind since {@code earlier} */
    public JvmThreads since(JvmThreads earlier) {
        return new JvmThreads(jitNanos - earlier.jitNanos, gcNanos - earlier.gcNanos);
    }
}
