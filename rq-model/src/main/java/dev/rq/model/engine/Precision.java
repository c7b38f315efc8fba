package dev.rq.model.engine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Compute precision of a model's layers.
 *
 * <ul>
 *   <li>{@link #FP32}: everything in float32 (the default; what the parity tests check).
 *   <li>{@link #BF16}: convolutions, linear layers, attention and the activations between them in
 *       bfloat16, as {@code torch.autocast("cpu", torch.bfloat16)} runs them; weights, optimizer
 *       state, losses, the quantizer's distances and EMA statistics stay float32 (the float32 master
 *       weights are cast at each use, and gradients flow back through the cast in float32).
 * </ul>
 *
 * bfloat16 is only fast on hardware with bfloat16 units (x86 AVX512-BF16 or AMX, ARM BF16, CUDA
 * GPUs); elsewhere libtorch emulates it, slower than float32, so {@link #requireSupportedOnCpu}
 * rejects it there with an error instead of running slowly.
 */
public enum Precision {
    /** float32 throughout. */
    FP32("fp32"),
    /** bfloat16 compute with float32 master weights. */
    BF16("bf16");

    private final String id;

    Precision(String id) {
        this.id = id;
    }

    /** @return the name used in configs, flags and manifests: {@code fp32} or {@code bf16} */
    public String id() {
        return id;
    }

    @Override
    public String toString() {
        return id;
    }

    /**
     * @param s {@code fp32} or {@code bf16} (case-insensitive)
     * @throws IllegalArgumentException naming the allowed values
     */
    public static Precision parse(String s) {
        for (Precision p : values()) {
            if (p.id.equalsIgnoreCase(s.trim())) {
                return p;
            }
        }
        throw new IllegalArgumentException("precision must be one of "
                + Arrays.stream(values()).map(Precision::id).collect(Collectors.joining(", ")) + ", got '" + s + "'");
    }

    /**
     * Fails when this precision cannot run at full speed on this machine's CPU: bfloat16 needs
     * AVX512-BF16 or AMX (x86) or BF16 (ARM) in {@code /proc/cpuinfo}.
     *
     * @throws IllegalArgumentException a one-line explanation (a user error: choose fp32)
     */
    public void requireSupportedOnCpu() {
        if (this == BF16 && !cpuHasBf16()) {
            throw new IllegalArgumentException("--precision bf16 needs a CPU with bfloat16 units (x86 AVX512-BF16 or AMX,"
                    + " ARM BF16) or a GPU; this CPU (" + System.getProperty("os.arch")
                    + ") has none, and emulated bfloat16 is slower than fp32: use --precision fp32");
        }
    }

    /** @return whether this machine's CPU has bfloat16 arithmetic units */
    public static boolean cpuHasBf16() {
        return CpuFlags.FLAGS.contains("avx512_bf16") || CpuFlags.FLAGS.contains("amx_bf16")
                || CpuFlags.FLAGS.contains("bf16");
    }

    /** The first processor's feature flags of {@code /proc/cpuinfo} (empty where unreadable). */
    private static final class CpuFlags {
        static final Set<String> FLAGS = read();

        private static Set<String> read() {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                    String l = line.toLowerCase(Locale.ROOT);
                    if (l.startsWith("flags") || l.startsWith("features")) {
                        return Set.copyOf(Arrays.asList(l.substring(l.indexOf(':') + 1).trim().split("\\s+")));
                    }
                }
            } catch (IOException | RuntimeException e) {
                // not Linux, or no permission: no known bfloat16 support
            }
            return Set.of();
        }
    }
}
