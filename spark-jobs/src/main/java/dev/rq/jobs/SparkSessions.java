package dev.rq.jobs;

import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;

/**
 * The project's Spark session settings: Kryo with registration required and {@link
 * RqKryoRegistrator}, no speculation, no dynamic allocation (barrier stages need all slots at
 * once). With no master configured (plain {@code bin/rq}), a local master with {@code workers}
 * slots and task retries is used; under spark-submit the submitted master wins.
 */
public final class SparkSessions {

    private SparkSessions() {}

    /** @return the session for a job named {@code app} */
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
                .config("spark.kryo.registrationRequired", "true")
                .config("spark.kryo.registrator", RqKryoRegistrator.class.getName())
                .config("spark.speculation", "false")
                .config("spark.dynamicAllocation.enabled", "false")
                .config("spark.barrier.sync.timeout", "600")
                .getOrCreate();
    }
}
