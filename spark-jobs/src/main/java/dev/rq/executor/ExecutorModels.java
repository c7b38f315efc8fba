package dev.rq.executor;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import dev.rq.io.HadoopDir;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.engine.Precision;
import dev.rq.model.vae.RqVae;
import dev.rq.model.vae.VaeCheckpoint;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.apache.hadoop.conf.Configuration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one executor-wide model cache of every job (DJL Spark's {@code ModelLoader} pattern): a
 * small serializable handle travels with the tasks and calls {@link #get}; the model is loaded
 * once per JVM, key and device — tasks of one executor that Spark gave different GPUs get one
 * copy per GPU — and shared by the tasks (callers serialise or parallelise its use as the model
 * allows). A failed load is not cached: the next task tries again.
 *
 * <pre>
 *   task → handle.get() → ExecutorModels.get(key, TaskDevice.current(), loader)
 *                           ├─ cached (key, device) → model
 *                           └─ first use → loader(device) → model   (others wait for it)
 * </pre>
 */
public final class ExecutorModels {
    private static final Logger LOG = LoggerFactory.getLogger(ExecutorModels.class);

    private static final Map<Key, Slot> CACHE = new ConcurrentHashMap<>();
    private static final Map<String, AtomicInteger> LOADS = new ConcurrentHashMap<>();

    private ExecutorModels() {}

    private record Key(String kind, String identity, String device) {}

    /** One cache entry; its monitor serialises the load so concurrent tasks load once. */
    private static final class Slot {
        AutoCloseable value;
    }

    /**
     * @param kind what is cached (e.g. {@code "tokenizer"}), for counts and logs
     * @param identity what makes two models the same: checkpoint URIs and their model SHA-256s
     * @param device where the model lives ({@link TaskDevice#current()})
     * @param loader loads the model onto {@code device}
     * @return the cached model, loaded on first use
     */
    public static <T extends AutoCloseable> T get(String kind, String identity, Device device,
            Function<Device, T> loader) {
        Slot slot = CACHE.computeIfAbsent(new Key(kind, identity, device.toString()), k -> new Slot());
        synchronized (slot) {
            if (slot.value == null) {
                long t0 = System.nanoTime();
                slot.value = loader.apply(device);
                LOADS.computeIfAbsent(kind, k -> new AtomicInteger()).incrementAndGet();
                LOG.info("loaded {} {} on {} in {} ms", kind, identity, device, (System.nanoTime() - t0) / 1_000_000);
            }
            @SuppressWarnings("unchecked")
            T t = (T) slot.value;
            return t;
        }
    }

    /** @return how many models of {@code kind} this JVM has loaded (tests: one per executor, key and device) */
    public static int loadCount(String kind) {
        AtomicInteger n = LOADS.get(kind);
        return n == null ? 0 : n.get();
    }

    /** Closes and forgets every cached model of this JVM (tests; no task may be using one). */
    public static void clear() {
        for (Slot s : CACHE.values()) {
            synchronized (s) {
                if (s.value != null) {
                    try {
                        s.value.close();
                    } catch (Exception e) {
                        LOG.warn("closing a cached model failed: {}", e.toString());
                    }
                    s.value = null;
                }
            }
        }
        CACHE.clear();
    }

    /**
     * Fails unless the checkpoint's {@code model.safetensors} is the one the driver saw: every
     * executor must compute with the same weights even if the checkpoint is replaced mid-job.
     *
     * @param expectedSha256 the SHA-256 the driver read from the manifest
     */
    public static void requireModelSha(String uri, Checkpoints.Loaded checkpoint, String expectedSha256) {
        String sha = checkpoint.manifest().files().get(Checkpoints.MODEL).sha256();
        if (!sha.equals(expectedSha256)) {
            throw new CheckpointException(uri + ": " + Checkpoints.MODEL + " has SHA-256 " + sha
                    + " on this executor, the driver saw " + expectedSha256 + " (checkpoint replaced while the job ran?)");
        }
    }

    /**
     * Fails unless a file read on this executor is the one the driver saw (its SHA-256).
     *
     * @param what the file, for the message
     */
    public static void requireSha(String what, String actualSha256, String expectedSha256) {
        if (!actualSha256.equals(expectedSha256)) {
            throw new CheckpointException(what + " has SHA-256 " + actualSha256 + " on this executor, the driver saw "
                    + expectedSha256 + " (replaced while the job ran?)");
        }
    }

    /**
     * Loads an RQ-VAE checkpoint for an executor's cache: every checksum verified, the model file
     * the one the driver saw ({@link #requireModelSha}), the compute precision set (bf16 on a CPU
     * without bfloat16 units fails here, on every executor). On failure nothing stays open but
     * {@code manager}, which the caller owns.
     *
     * @param sha256 the {@code model.safetensors} SHA-256 the driver read from the manifest
     * @param precision compute precision, or null to keep the model's default (fp32)
     */
    public static RqVae verifiedVae(String uri, String sha256, Configuration conf, NDManager manager,
            Precision precision) throws IOException {
        VaeCheckpoint.Loaded l = VaeCheckpoint.load(new HadoopDir(uri, conf), manager); // verifies every checksum
        try {
            requireModelSha(uri, l.checkpoint(), sha256);
            if (precision != null) {
                l.vae().setPrecision(precision);
            }
            return l.vae();
        } catch (RuntimeException e) {
            l.vae().close();
            throw e;
        }
    }
}
