package dev.rq.jobs;

import dev.rq.executor.ExecutorModels;
import dev.rq.model.config.ConfigException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;
import scala.Option;
import scala.Tuple2;

/**
 * The Spark session of a job, with the user's settings first.
 *
 * <p>Where settings come from, highest precedence first, as with {@code spark-submit}: {@code
 * --spark-conf key=value} (and {@code -Dspark.*} JVM properties), then {@code
 * $SPARK_CONF_DIR/spark-defaults.conf} (else {@code $SPARK_HOME/conf/spark-defaults.conf}; under
 * spark-submit, which reads it itself, it is not read again), then the project's defaults ({@link
 * #DEFAULTS}: Kryo with {@link RqKryoRegistrator}, no speculation, no dynamic allocation, a long
 * barrier wait for checkpoint writes, {@link #MALLOC_TUNABLES} in the executors' environment). A user value is never overridden; the only addition is
 * {@link RqKryoRegistrator} appended to a user's own {@code spark.kryo.registrator} list. With no
 * master configured (plain {@code bin/rq}), a local master with {@code workers} slots and task
 * retries is used.
 *
 * <p>Inside an existing session (spark-shell, a notebook, a second job of the same application)
 * nothing can be changed: the session is used as it is, and {@link #check} fails with the key to
 * change when a setting cannot work, instead of overriding it silently.
 */
public final class SparkSessions {

    /** The project's defaults, applied only to keys the user did not set. */
    public static final Map<String, String> DEFAULTS = defaults();

    private static final String KRYO = "org.apache.spark.serializer.KryoSerializer";

    /**
     * glibc malloc settings for processes that run libtorch (set as {@code GLIBC_TUNABLES} by
     * {@code bin/rq}, the Docker image, {@code deploy/*.sh} and, for executors, {@link #DEFAULTS}):
     * a fixed 32 MiB mmap threshold, a 1 GiB trim threshold and a 64 MiB top pad, so that the
     * tensors a step frees are reused by the next step instead of being unmapped and page-faulted
     * in again. libtorch's CPU allocator is plain malloc; the Java thread that runs a step allocates
     * from a per-thread arena, whose 64 MiB heaps glibc unmaps as soon as they are empty unless the
     * top pad covers a whole heap. Per-thread arenas stay (one arena for all threads was slower with
     * two ranks in one JVM). Measured idle (docs/performance-history.md "Session 9"): the fp32
     * RQ-Transformer step's minor page faults 8,000–16,500 → ~130; the quickstart's 2-rank bf16
     * stage 1 1.09–1.17×. The price: freed native memory stays in the process up to each arena's
     * high-water mark.
     */
    public static final String MALLOC_TUNABLES =
            "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=67108864";

    private SparkSessions() {}

    private static Map<String, String> defaults() {
        Map<String, String> d = new LinkedHashMap<>();
        d.put("spark.serializer", KRYO);
        d.put("spark.kryo.registrationRequired", "true");
        d.put("spark.kryo.registrator", RqKryoRegistrator.class.getName());
        d.put("spark.speculation", "false");
        d.put("spark.dynamicAllocation.enabled", "false");
        // ranks wait for rank 0's checkpoint write and for checkpoint loads in a Spark barrier (not a
        // ring collective): allow an hour for multi-GB checkpoints on an object store
        d.put("spark.barrier.sync.timeout", "3600");
        // executors that Spark launches (standalone, YARN, Kubernetes); a user's value, even empty, wins
        d.put("spark.executorEnv.GLIBC_TUNABLES", MALLOC_TUNABLES);
        return Map.copyOf(d);
    }

    /**
     * Adds a {@code --spark-conf key=value} setting (for the sessions and Hadoop configurations
     * this process creates afterwards), as spark-submit's {@code --conf} does: a JVM property.
     *
     * @throws IllegalArgumentException when it is not {@code spark.*=value}
     */
    public static void userSetting(String keyValue) {
        int eq = keyValue.indexOf('=');
        String key = eq < 0 ? keyValue : keyValue.substring(0, eq).trim();
        if (eq <= 0 || !key.startsWith("spark.")) {
            throw new IllegalArgumentException("--spark-conf: '" + keyValue + "' is not spark.<key>=<value>"
                    + (key.startsWith("fs.") ? " (Hadoop settings take the spark.hadoop. prefix: spark.hadoop." + key
                            + ")" : ""));
        }
        System.setProperty(key, keyValue.substring(eq + 1));
    }

    /**
     * Reads {@code spark-defaults.conf} as spark-submit does and sets each entry that is not set
     * already as a JVM property; does nothing under spark-submit (it read the file itself).
     *
     * @param env the environment ({@code SPARK_CONF_DIR}, {@code SPARK_HOME})
     * @return the file read, or null
     */
    public static Path loadDefaultsFile(Map<String, String> env) throws IOException {
        if (System.getProperty("SPARK_SUBMIT") != null) {
            return null;
        }
        Path file = null;
        if (env.get("SPARK_CONF_DIR") != null) {
            file = Path.of(env.get("SPARK_CONF_DIR"), "spark-defaults.conf");
        } else if (env.get("SPARK_HOME") != null) {
            file = Path.of(env.get("SPARK_HOME"), "conf", "spark-defaults.conf");
        }
        if (file == null || !Files.isRegularFile(file)) {
            return null;
        }
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(file)) {
            p.load(new java.io.InputStreamReader(in, StandardCharsets.UTF_8));
        }
        for (String k : p.stringPropertyNames()) {
            if (k.startsWith("spark.") && System.getProperty(k) == null) {
                System.setProperty(k, p.getProperty(k).trim());
            }
        }
        return file;
    }

    /** @return the session for a job named {@code app} (the active one if there is one; see the class doc) */
    public static SparkSession getOrCreate(String app, int workers) {
        Option<SparkSession> active = SparkSession.getActiveSession();
        if (active.isEmpty()) {
            active = SparkSession.getDefaultSession();
        }
        if (active.isDefined() && !active.get().sparkContext().isStopped()) {
            check(active.get().sparkContext().getConf());
            return active.get();
        }
        SparkConf user = new SparkConf(); // JVM properties: --spark-conf, spark-defaults.conf, spark-submit
        SparkSession.Builder b = SparkSession.builder().appName("rq " + app);
        if (!user.contains("spark.master")) {
            b.master("local[" + workers + ",4]"); // 4 attempts per task, like a cluster
            for (String[] kv : new String[][] {{"spark.driver.bindAddress", "127.0.0.1"},
                    {"spark.driver.host", "127.0.0.1"}, {"spark.ui.enabled", "false"},
                    {"spark.ui.showConsoleProgress", "false"}}) {
                if (!user.contains(kv[0])) {
                    b.config(kv[0], kv[1]);
                }
            }
        }
        DEFAULTS.forEach((k, v) -> {
            if (!user.contains(k)) {
                b.config(k, v);
            }
        });
        String registrators = user.get("spark.kryo.registrator", "");
        if (!registrators.isEmpty() && !hasRegistrator(registrators)) {
            b.config("spark.kryo.registrator", registrators + "," + RqKryoRegistrator.class.getName());
        }
        SparkSession s = b.getOrCreate();
        check(s.sparkContext().getConf());
        return s;
    }

    private static boolean hasRegistrator(String list) {
        return Arrays.stream(list.split(",")).map(String::trim).anyMatch(RqKryoRegistrator.class.getName()::equals);
    }

    /**
     * Fails, naming the key, on settings the jobs cannot work with: Kryo with registration required
     * but without {@link RqKryoRegistrator}; a bad {@value ExecutorModels#MAX_MODELS_CONF}.
     *
     * @throws ConfigException naming the Spark key
     */
    public static void check(SparkConf conf) {
        ExecutorModels.maxModels(conf);
        if (conf.get("spark.serializer", "").equals(KRYO) && conf.getBoolean("spark.kryo.registrationRequired", false)
                && !hasRegistrator(conf.get("spark.kryo.registrator", ""))) {
            throw new ConfigException("spark.kryo.registrator", "the session requires Kryo registration"
                    + " (spark.kryo.registrationRequired=true) but does not list " + RqKryoRegistrator.class.getName()
                    + ", which registers the classes the jobs send: add it (comma-separated) or set"
                    + " spark.kryo.registrationRequired=false");
        }
    }

    /**
     * Fails, naming the key, on settings a barrier stage (the training jobs: one task per rank,
     * all at once) cannot run with: dynamic allocation and speculation.
     *
     * @throws ConfigException naming the Spark key and the value to set
     */
    public static void checkBarrierStage(SparkConf conf) {
        if (conf.getBoolean("spark.dynamicAllocation.enabled", false)) {
            throw new ConfigException("spark.dynamicAllocation.enabled", "the training ranks run as one Spark barrier"
                    + " stage, which Spark cannot schedule with dynamic allocation: run training in an application"
                    + " with spark.dynamicAllocation.enabled=false (e.g. --spark-conf"
                    + " spark.dynamicAllocation.enabled=false or spark-submit --conf ...)");
        }
        if (conf.getBoolean("spark.speculation", false)) {
            throw new ConfigException("spark.speculation", "the training ranks run as one Spark barrier stage; a"
                    + " speculative copy of a rank would join the ring twice: set spark.speculation=false");
        }
    }

    /**
     * A Hadoop configuration for I/O outside a session (config files, imports, reports): the
     * defaults plus every {@code spark.hadoop.*} setting the user gave (as {@code
     * SparkContext.hadoopConfiguration} would have them).
     */
    public static Configuration hadoopConf() {
        Configuration c = new Configuration();
        for (Tuple2<String, String> kv : new SparkConf().getAllWithPrefix("spark.hadoop.")) {
            c.set(kv._1(), kv._2());
        }
        return c;
    }
}
