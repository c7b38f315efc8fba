package dev.rq.executor;

import ai.djl.Device;
import dev.rq.model.engine.Engines;
import java.util.Map;
import org.apache.spark.SparkContext;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;
import org.apache.spark.sql.SparkSession;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The device a model runs on: the GPU that Spark assigned to the running task (task resource
 * {@value #GPU}, {@code spark.task.resource.gpu.amount}), or the CPU when none was assigned —
 * never libtorch's default GPU 0, so that the tasks of several executors on one multi-GPU host
 * each use their own GPU. On the driver (outside a task) the same rule applies to the driver's
 * resources ({@code spark.driver.resource.gpu.amount}), and so it does for the tasks of a local
 * master, which run in the driver JVM and are never assigned resources by Spark: task {@code p}
 * uses the driver's GPU {@code p mod n}.
 *
 * <p>Spark's addresses are used as CUDA ordinals of this process: the discovery script must report
 * GPUs as the executor sees them ({@code deploy/gpu/discover-gpus.sh} does, honouring {@code
 * CUDA_VISIBLE_DEVICES}). A GPU assignment that this process cannot honour (a CPU-only libtorch,
 * an ordinal it does not see) fails the task with a message saying why; it never silently falls
 * back to the CPU or to another GPU.
 */
public final class TaskDevice {

    /** Spark's resource name for GPUs. */
    public static final String GPU = "gpu";

    private TaskDevice() {}

    /** @return the device of the running task, or of the driver when called outside a task */
    public static Device current() {
        TaskContext ctx = TaskContext.get();
        if (ctx == null) {
            return choose(null, "the driver", TaskDevice::visibleGpus);
        }
        return forTask(ctx);
    }

    /** @return the device for {@code ctx}'s task */
    public static Device forTask(TaskContext ctx) {
        String who = "task " + ctx.partitionId() + " (attempt " + ctx.attemptNumber() + ")";
        String[] own = addresses(ctx.resourcesJMap());
        if ((own == null || own.length == 0) && runsInDriver()) { // local master: the driver's GPUs
            SparkSession session = SparkSession.getDefaultSession().getOrElse(() -> null);
            String[] driver = session == null ? null
                    : addresses(CollectionConverters.asJava(session.sparkContext().resources()));
            if (driver != null && driver.length > 0) {
                String a = driver[ctx.partitionId() % driver.length];
                return choose(new String[] {a}, who + " on the driver", TaskDevice::visibleGpus);
            }
        }
        return choose(own, who, TaskDevice::visibleGpus);
    }

    private static boolean runsInDriver() {
        SparkEnv env = SparkEnv.get();
        return env != null && "driver".equals(env.executorId()); // SparkContext.DRIVER_IDENTIFIER
    }

    /** @return the device for work done on the driver of {@code sc} (its {@code spark.driver.resource.gpu}) */
    public static Device forDriver(SparkContext sc) {
        Map<String, ResourceInformation> res = CollectionConverters.asJava(sc.resources());
        return choose(addresses(res), "the driver", TaskDevice::visibleGpus);
    }

    /** Supplies the number of GPUs the engine sees (0 for a CPU-only libtorch); called only when one is assigned. */
    @FunctionalInterface
    public interface GpuCount {
        int get();
    }

    /**
     * The rule itself (no Spark, no GPU needed): the first assigned address, as a CUDA ordinal,
     * checked against what the engine sees; the CPU when nothing is assigned.
     *
     * @param gpuAddresses the addresses Spark assigned ({@code null} or empty: none)
     * @param who "task 3 (attempt 0)" or "the driver", for messages
     * @param visible how many GPUs the engine sees
     */
    public static Device choose(String[] gpuAddresses, String who, GpuCount visible) {
        if (gpuAddresses == null || gpuAddresses.length == 0) {
            return Device.cpu();
        }
        String a = gpuAddresses[0].trim();
        int id;
        try {
            id = Integer.parseInt(a);
        } catch (NumberFormatException e) {
            throw new IllegalStateException("Spark assigned GPU address '" + a + "' to " + who
                    + ", which is not a CUDA ordinal: the GPU discovery script must print indices (see"
                    + " deploy/gpu/discover-gpus.sh)");
        }
        int n = visible.get();
        if (n == 0) {
            throw new IllegalStateException("Spark assigned GPU " + id + " to " + who + ", but the libtorch on"
                    + " the classpath has no CUDA support: build with -Pcuda or point PYTORCH_LIBRARY_PATH at a"
                    + " CUDA libtorch " + Engines.LIBTORCH_VERSION + " (see deploy/README.md)");
        }
        if (id < 0 || id >= n) {
            throw new IllegalStateException("Spark assigned GPU " + id + " to " + who + ", but this process sees "
                    + n + " GPU(s) (CUDA_VISIBLE_DEVICES=" + System.getenv("CUDA_VISIBLE_DEVICES")
                    + "): the discovery script must report the ordinals this process sees (see"
                    + " deploy/gpu/discover-gpus.sh)");
        }
        return Device.gpu(id);
    }

    private static String[] addresses(Map<String, ResourceInformation> resources) {
        ResourceInformation gpu = resources == null ? null : resources.get(GPU);
        return gpu == null ? null : gpu.addresses();
    }

    private static int visibleGpus() {
        return Engines.pytorch(0).getGpuCount();
    }
}
