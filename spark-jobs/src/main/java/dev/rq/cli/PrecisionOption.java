package dev.rq.cli;

import dev.rq.executor.TaskDevice;
import dev.rq.model.engine.Precision;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Option;

/**
 * {@code --precision fp32|bf16} of the commands that run a model (a picocli mixin; the training
 * commands get it through {@link TrainingFlags}, as {@code train.precision}). bf16 on a
 * CPU without bfloat16 units is an error, not a silent slowdown: on a local master it is reported
 * before any Spark work ({@link #checkBeforeWork}); on a cluster each executor checks its own CPU
 * when it loads the model.
 */
public final class PrecisionOption {

    @Option(names = "--precision", paramLabel = "fp32|bf16",
            description = "Compute precision: fp32 (default) or bf16 (bfloat16 compute, float32 weights,"
                    + " quantizer and losses; needs AVX512-BF16/AMX, ARM BF16 or a GPU)")
    Precision precision;

    /** @return the chosen precision, or {@code fallback} when the flag is absent */
    Precision orElse(Precision fallback) {
        return precision == null ? fallback : precision;
    }

    /** @return {@code overrides} followed by {@code train.precision=<id>} when the flag is given */
    java.util.List<String> overrides(java.util.List<String> overrides) {
        java.util.List<String> sets = new java.util.ArrayList<>(overrides);
        if (precision != null) {
            sets.add("train.precision=" + precision.id());
        }
        return sets;
    }

    /**
     * Fails before any Spark work when bf16 was asked for, the master is local and the driver (the
     * only executor) computes on a CPU without bfloat16 units.
     */
    static void checkBeforeWork(Precision p, SparkSession spark) {
        if (p == Precision.BF16 && spark.sparkContext().isLocal()
                && !TaskDevice.forDriver(spark.sparkContext()).isGpu()) {
            p.requireSupportedOnCpu();
        }
    }
}
