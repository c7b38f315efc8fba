package dev.rq.executor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.Device;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;

/** The device rule without a GPU: what Spark assigned decides, never a default GPU 0. */
class TaskDeviceTest {

    @Test
    void noAssignmentMeansCpuAndTheGpuCountIsNotEvenAsked() {
        AtomicBoolean asked = new AtomicBoolean();
        TaskDevice.GpuCount count = () -> {
            asked.set(true);
            return 8;
        };
        assertThat(TaskDevice.choose(null, "task 0", count)).isEqualTo(Device.cpu());
        assertThat(TaskDevice.choose(new String[0], "task 0", count)).isEqualTo(Device.cpu());
        assertThat(asked).as("a CPU task must not start CUDA").isFalse();
    }

    @Test
    void theAssignedGpuIsUsedNotGpuZero() {
        assertThat(TaskDevice.choose(new String[] {"3"}, "task 1", () -> 4)).isEqualTo(Device.gpu(3));
        assertThat(TaskDevice.choose(new String[] {" 1 ", "2"}, "task 1", () -> 4)).isEqualTo(Device.gpu(1));
        assertThat(TaskDevice.choose(new String[] {"0"}, "task 1", () -> 1)).isEqualTo(Device.gpu(0));
    }

    @Test
    void aGpuThatCannotBeHonouredFailsWithTheReason() {
        assertThatThrownBy(() -> TaskDevice.choose(new String[] {"1"}, "task 7 (attempt 0)", () -> 0))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("Spark assigned GPU 1 to task 7 (attempt 0)")
                .hasMessageContaining("no CUDA support").hasMessageContaining("-Pcuda");
        assertThatThrownBy(() -> TaskDevice.choose(new String[] {"2"}, "task 7", () -> 2))
                .hasMessageContaining("sees 2 GPU(s)").hasMessageContaining("CUDA_VISIBLE_DEVICES");
        assertThatThrownBy(() -> TaskDevice.choose(new String[] {"GPU-8f3a"}, "task 7", () -> 2))
                .hasMessageContaining("not a CUDA ordinal");
    }

    @Test
    void realLocalTasksAndTheDriverWithoutGpusRunOnTheCpu() {
        SparkSession spark = SparkSession.builder().master("local[2]").appName("task-device")
                .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
        try {
            JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
            List<String> devices = jsc.parallelize(List.of(1, 2, 3, 4), 4)
                    .map(i -> TaskDevice.current().toString()).collect();
            assertThat(devices).containsOnly(Device.cpu().toString());
            assertThat(TaskDevice.forDriver(spark.sparkContext())).isEqualTo(Device.cpu());
            assertThat(TaskDevice.current()).as("outside a task: the driver's").isEqualTo(Device.cpu());
        } finally {
            spark.stop();
        }
    }
}
