package dev.rq.jobs.quickstart;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.serializers.JavaSerializer;
import dev.rq.jobs.RqKryoRegistrator;
import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.tokenize.WorkUnit;
import org.apache.spark.SparkConf;
import org.apache.spark.serializer.KryoRegistrator;
import org.apache.spark.sql.SparkSession;

/**
 * The one session of {@code rq quickstart}: the settings of {@link SparkSessions} (Kryo with
 * {@link RqKryoRegistrator}, no speculation, no dynamic allocation, {@code local[workers,4]} when
 * no master is configured) except that Kryo does <b>not</b> require registration, plus {@link
 * Registrator}. The training job runs with registration required, but the tokenize job (tested on
 * sessions with Spark's default Java serializer) sends classes through Kryo that nobody registers:
 * its {@link WorkUnit} records, which Kryo's field serializer cannot handle at all (Java
 * serialization is registered for them here), and Spark's own {@code StructType}/{@code ShortType$}
 * of the Parquet write path. A session shared by every stage must accept those.
 */
public final class QuickstartSession {

    private QuickstartSession() {}

    /** @return the session for the quickstart (or a test) with {@code workers} local task slots */
    public static SparkSession getOrCreate(String app, int workers) {
        SparkConf probe = new SparkConf();
        SparkSession.Builder b = SparkSession.builder().appName("rq " + app);
        if (!probe.contains("spark.master")) {
            b.master("local[" + workers + ",4]") // 4 attempts per task, like a cluster
                    .config("spark.driver.bindAddress", "127.0.0.1")
                    .config("spark.driver.host", "127.0.0.1")
                    .config("spark.ui.enabled", "false")
                    .config("spark.ui.showConsoleProgress", "false");
        }
        return b.config("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .config("spark.kryo.registrationRequired", "false")
                .config("spark.kryo.registrator", RqKryoRegistrator.class.getName() + "," + Registrator.class.getName())
                .config("spark.speculation", "false")
                .config("spark.dynamicAllocation.enabled", "false")
                .config("spark.barrier.sync.timeout", "600")
                .config("spark.sql.shuffle.partitions", String.valueOf(Math.max(2, workers)))
                .getOrCreate();
    }

    /** Registers {@link WorkUnit} with Java serialization (Kryo's field serializer cannot set record fields). */
    public static final class Registrator implements KryoRegistrator {
        @Override
        public void registerClasses(Kryo kryo) {
            kryo.register(WorkUnit.class, new JavaSerializer());
        }
    }
}
