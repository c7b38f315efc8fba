package dev.rq.executor;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import dev.rq.io.HadoopDir;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.config.ConfigException;
import dev.rq.model.engine.Precision;
import dev.rq.model.vae.RqVae;
import dev.rq.model.vae.VaeCheckpoint;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.util.TaskCompletionListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one executor-wide model cache of every job (DJL Spark's {@code ModelLoader} pattern): a
 * small serializable handle travels with the tasks and calls {@link #get}; the model is loaded
 * once per JVM, key and device — tasks of one executor that Spark gave different GPUs get one
 * copy per GPU — and shared by the tasks (callers serialise or parallelise its use as the model
 * allows). A failed load is not cached: the next task tries again.
 *
 * <p>Bounded: at most {@value #MAX_MODELS_CONF} models (default {@value #DEFAULT_MAX_MODELS}) per
 * device stay loaded. Every model is reference-counted: {@link #get} called in a Spark task leases
 * the model to that task until the task completes (a task completion listener; one lease per task
 * and model however often the task calls {@code get}), {@link #acquire} leases it until the lease
 * is closed. When a load or a release leaves more models on a device than the bound, the least
 * recently requested models that no lease holds are closed (their native memory freed) and
 * forgotten; a later request loads them again. A model in use is never closed, so a device may
 * hold more than the bound while more distinct models are in use at once.
 *
 * <pre>
 *   task → handle.get() → ExecutorModels.get(key, TaskDevice.current(), loader)
 *                           ├─ cached (key, device) → model            ┐ leased to the task
 *                           └─ first use → loader(device) → model      ┘ (others wait for the load)
 *   task completes → lease released → over the bound? close the least recently used idle models
 * </pre>
 */
public final class ExecutorModels {
    private static final Logger LOG = LoggerFactory.getLogger(ExecutorModels.class);

    /** Spark conf key: how many models one device of an executor keeps loaded (an integer ≥ 1). */
    public static final String MAX_MODELS_CONF = "spark.rq.executor.maxModels";
    /** Default of {@link #MAX_MODELS_CONF}: a job's model plus the previous job's (e.g. tokenize, then sample). */
    public static final int DEFAULT_MAX_MODELS = 2;

    /** Guards {@link #CACHE} and every slot's {@code users} and {@code tasks}. */
    private static final Object LOCK = new Object();
    private static final Map<Key, Slot> CACHE = new HashMap<>();
    /** Request clock of {@code Slot.lastUse} (under {@link #LOCK}). */
    private static long clock;
    private static final Map<String, AtomicInteger> LOADS = new ConcurrentHashMap<>();
    private static final Map<String, AtomicInteger> EVICTIONS = new ConcurrentHashMap<>();
    /** Tests: overrides the Spark conf bound when set. */
    private static volatile Integer maxModelsOverride;

    private ExecutorModels() {}

    private record Key(String kind, String identity, String device) {}

    /**
     * One cache entry; its monitor serialises the load (so concurrent tasks load once) and the
     * close. {@code users}: open leases; {@code tasks}: task attempts holding one of them.
     */
    private static final class Slot {
        final Key key;
        AutoCloseable value;
        int users;
        long lastUse;
        final Set<Long> tasks = new HashSet<>();

        Slot(Key key) {
            this.key = key;
        }
    }

    /**
     * A model leased from the cache: it is not closed before the lease is (closing twice is a no-op).
     *
     * @param <T> the model type
     */
    public static final class Lease<T> implements AutoCloseable {
        private final Slot slot;
        private final T model;
        private final AtomicBoolean open = new AtomicBoolean(true);

        private Lease(Slot slot, T model) {
            this.slot = slot;
            this.model = model;
        }

        /** @return the model */
        public T get() {
            return model;
        }

        /** Releases the model; it may be closed now if the device is over its bound. */
        @Override
        public void close() {
            if (open.compareAndSet(true, false)) {
                release(slot);
            }
        }
    }

    /**
     * The model for a Spark task: leased to the task running in this thread until it completes.
     * Called outside a task (the driver, a background preload), the model is returned without a
     * lease: it may be closed once the device is over its bound; code outside tasks that uses a
     * model should {@link #acquire} it instead.
     *
     * @param kind what is cached (e.g. {@code "tokenizer"}), for counts and logs
     * @param identity what makes two models the same: checkpoint URIs and their model SHA-256s
     * @param device where the model lives ({@link TaskDevice#current()})
     * @param loader loads the model onto {@code device}
     * @return the cached model, loaded on first use
     */
    public static <T extends AutoCloseable> T get(String kind, String identity, Device device,
            Function<Device, T> loader) {
        TaskContext task = TaskContext.get();
        Lease<T> lease = acquire(kind, identity, device, loader);
        if (task == null) {
            lease.close();
            return lease.get();
        }
        long attempt = task.taskAttemptId();
        boolean first;
        synchronized (LOCK) {
            first = lease.slot.tasks.add(attempt);
        }
        if (!first) {
            lease.close(); // the task already holds one
        } else {
            task.addTaskCompletionListener((TaskCompletionListener) c -> { // run at once if already completed
                synchronized (LOCK) {
                    lease.slot.tasks.remove(attempt);
                }
                lease.close();
            });
        }
        return lease.get();
    }

    /**
     * Leases the model, loading it on first use: it stays open until the lease is closed.
     *
     * @param kind what is cached, for counts and logs
     * @param identity what makes two models the same
     * @param device where the model lives
     * @param loader loads the model onto {@code device}
     * @return the lease; close it when the model is no longer used
     */
    public static <T extends AutoCloseable> Lease<T> acquire(String kind, String identity, Device device,
            Function<Device, T> loader) {
        Key key = new Key(kind, identity, device.toString());
        Slot slot;
        synchronized (LOCK) {
            slot = CACHE.computeIfAbsent(key, Slot::new);
            slot.users++;
            slot.lastUse = ++clock;
        }
        boolean loaded = false;
        Lease<T> lease;
        try {
            synchronized (slot) {
                if (slot.value == null) {
                    long t0 = System.nanoTime();
                    slot.value = loader.apply(device);
                    LOADS.computeIfAbsent(kind, k -> new AtomicInteger()).incrementAndGet();
                    loaded = true;
                    LOG.info("loaded {} {} on {} in {} ms", kind, identity, device,
                            (System.nanoTime() - t0) / 1_000_000);
                }
                @SuppressWarnings("unchecked")
                T t = (T) slot.value;
                lease = new Lease<>(slot, t);
            }
        } catch (RuntimeException | Error e) {
            release(slot);
            throw e;
        }
        if (loaded) {
            closeAll(overBound(key.device()));
        }
        return lease;
    }

    private static void release(Slot slot) {
        List<Slot> victims;
        synchronized (LOCK) {
            slot.users--;
            if (slot.users == 0 && slot.value == null && CACHE.get(slot.key) == slot) {
                CACHE.remove(slot.key); // a failed load: nothing to keep
            }
            victims = overBound(slot.key.device());
        }
        closeAll(victims);
    }

    /** @return the idle models to close so that {@code device} is within its bound, least recent first (forgotten) */
    private static List<Slot> overBound(String device) {
        int max = maxModels();
        List<Slot> victims = new ArrayList<>();
        synchronized (LOCK) {
            if (CACHE.size() <= max) {
                return victims; // the common case (a task's repeated get): no device can be over
            }
            List<Slot> onDevice = new ArrayList<>();
            for (Slot s : CACHE.values()) {
                if (s.key.device().equals(device)) {
                    onDevice.add(s);
                }
            }
            onDevice.sort(Comparator.comparingLong(s -> s.lastUse)); // least recently requested first
            int n = onDevice.size();
            for (Iterator<Slot> it = onDevice.iterator(); it.hasNext() && n > max;) {
                Slot s = it.next();
                if (s.users == 0) {
                    CACHE.remove(s.key); // no request can reach it any more; a new one loads a new copy
                    victims.add(s);
                    n--;
                }
            }
        }
        return victims;
    }

    private static void closeAll(List<Slot> victims) {
        for (Slot s : victims) {
            if (close(s)) {
                EVICTIONS.computeIfAbsent(s.key.kind(), k -> new AtomicInteger()).incrementAndGet();
                LOG.info("closed {} {} on {} (least recently used; {} = {})", s.key.kind(), s.key.identity(),
                        s.key.device(), MAX_MODELS_CONF, maxModels());
            }
        }
    }

    /** Closes the slot's model (a failure to close is logged) unless closed already; @return whether it was open. */
    private static boolean close(Slot s) {
        synchronized (s) {
            if (s.value == null) {
                return false;
            }
            try {
                s.value.close();
            } catch (Exception e) {
                LOG.warn("closing a cached model failed: {}", e.toString());
            }
            s.value = null;
            return true;
        }
    }

    /**
     * @return how many models one device keeps loaded: the test override, else this JVM's Spark
     *     conf ({@value #MAX_MODELS_CONF}), else {@value #DEFAULT_MAX_MODELS}
     */
    static int maxModels() {
        Integer o = maxModelsOverride;
        if (o != null) {
            return o;
        }
        SparkEnv env = SparkEnv.get();
        return env == null ? DEFAULT_MAX_MODELS : maxModels(env.conf());
    }

    /**
     * @return the bound {@value #MAX_MODELS_CONF} sets ({@value #DEFAULT_MAX_MODELS} when unset)
     * @throws ConfigException naming the key unless it is an integer ≥ 1
     */
    public static int maxModels(SparkConf conf) {
        if (!conf.contains(MAX_MODELS_CONF)) {
            return DEFAULT_MAX_MODELS;
        }
        String v = conf.get(MAX_MODELS_CONF).trim();
        int n;
        try {
            n = Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new ConfigException(MAX_MODELS_CONF, "not an integer: '" + v + "'");
        }
        if (n < 1) {
            throw new ConfigException(MAX_MODELS_CONF, "must be at least 1 (models kept per device), got " + n);
        }
        return n;
    }

    /** Tests: sets the bound (null: back to the Spark conf), then applies it to every device. */
    static void setMaxModelsForTest(Integer max) {
        maxModelsOverride = max;
        List<String> devices;
        synchronized (LOCK) {
            devices = CACHE.keySet().stream().map(Key::device).distinct().toList();
        }
        for (String d : devices) {
            closeAll(overBound(d));
        }
    }

    /** @return how many models of {@code kind} this JVM has loaded (tests: one per executor, key and device) */
    public static int loadCount(String kind) {
        AtomicInteger n = LOADS.get(kind);
        return n == null ? 0 : n.get();
    }

    /** @return how many models of {@code kind} this JVM has closed to stay within the bound */
    public static int evictionCount(String kind) {
        AtomicInteger n = EVICTIONS.get(kind);
        return n == null ? 0 : n.get();
    }

    /** @return open leases on the cached model (0 when idle or not cached; tests) */
    static int users(String kind, String identity, Device device) {
        synchronized (LOCK) {
            Slot s = CACHE.get(new Key(kind, identity, device.toString()));
            return s == null ? 0 : s.users;
        }
    }

    /** Closes and forgets every cached model of this JVM (tests; no task may be using one). */
    public static void clear() {
        List<Slot> all;
        synchronized (LOCK) {
            all = new ArrayList<>(CACHE.values());
            CACHE.clear();
        }
        for (Slot s : all) {
            close(s);
        }
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
