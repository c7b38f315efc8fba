package dev.rq.jobs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rq.model.config.ConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Where a job's Spark settings come from ({@code --spark-conf}, {@code spark-defaults.conf}, the
 * project's defaults) and the settings that fail clearly instead of being overridden.
 */
class SparkSessionsTest {

    static final List<String> KEYS = List.of("spark.kryo.registrationRequired", "spark.kryo.registrator",
            "spark.barrier.sync.timeout", "spark.hadoop.fs.rqtest.key", "spark.executor.memory",
            "spark.dynamicAllocation.enabled", "spark.speculation");

    @TempDir Path tmp;

    @AfterEach
    void clear() {
        KEYS.forEach(System::clearProperty);
    }

    @Test
    void sparkConfSettingsAreSparkKeysOnly() {
        SparkSessions.userSetting("spark.hadoop.fs.rqtest.key=a=b");
        assertThat(System.getProperty("spark.hadoop.fs.rqtest.key")).isEqualTo("a=b");
        assertThat(SparkSessions.hadoopConf().get("fs.rqtest.key")).isEqualTo("a=b");
        assertThatThrownBy(() -> SparkSessions.userSetting("fs.s3a.endpoint=http://x"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("spark.hadoop.fs.s3a.endpoint");
        assertThatThrownBy(() -> SparkSessions.userSetting("spark.executor.memory"))
                .hasMessageContaining("is not spark.<key>=<value>");
    }

    @Test
    void sparkDefaultsConfIsReadUnderTheCommandLine() throws Exception {
        Path conf = Files.createDirectories(tmp.resolve("conf"));
        Files.writeString(conf.resolve("spark-defaults.conf"), """
                # as spark-submit reads it
                spark.hadoop.fs.rqtest.key   from-defaults
                spark.executor.memory        3g
                """);
        System.setProperty("spark.executor.memory", "5g"); // --spark-conf wins over the file
        assertThat(SparkSessions.loadDefaultsFile(Map.of("SPARK_CONF_DIR", conf.toString())))
                .isEqualTo(conf.resolve("spark-defaults.conf"));
        assertThat(System.getProperty("spark.hadoop.fs.rqtest.key")).isEqualTo("from-defaults");
        assertThat(System.getProperty("spark.executor.memory")).isEqualTo("5g");
        assertThat(SparkSessions.loadDefaultsFile(Map.of())).isNull();
        // $SPARK_HOME/conf when SPARK_CONF_DIR is not set
        Files.createDirectories(tmp.resolve("home/conf"));
        Files.writeString(tmp.resolve("home/conf/spark-defaults.conf"), "spark.speculation true\n");
        SparkSessions.loadDefaultsFile(Map.of("SPARK_HOME", tmp.resolve("home").toString()));
        assertThat(System.getProperty("spark.speculation")).isEqualTo("true");
    }

    @Test
    void settingsTheJobsCannotWorkWithFailNamingTheKey() {
        SparkConf kryo = new SparkConf(false).set("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .set("spark.kryo.registrationRequired", "true").set("spark.kryo.registrator", "com.example.Mine");
        assertThatThrownBy(() -> SparkSessions.check(kryo)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("spark.kryo.registrator").hasMessageContaining(RqKryoRegistrator.class.getName());
        SparkSessions.check(kryo.set("spark.kryo.registrator", "com.example.Mine, " + RqKryoRegistrator.class.getName()));
        SparkSessions.check(new SparkConf(false).set("spark.kryo.registrationRequired", "false"));
        assertThatThrownBy(() -> SparkSessions.check(new SparkConf(false).set("spark.rq.executor.maxModels", "-1")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("spark.rq.executor.maxModels");
        SparkSessions.check(new SparkConf(false).set("spark.rq.executor.maxModels", "3"));

        assertThatThrownBy(() -> SparkSessions.checkBarrierStage(new SparkConf(false)
                .set("spark.dynamicAllocation.enabled", "true")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("spark.dynamicAllocation.enabled")
                .hasMessageContaining("barrier");
        assertThatThrownBy(() -> SparkSessions.checkBarrierStage(new SparkConf(false).set("spark.speculation", "true")))
                .hasMessageContaining("spark.speculation");
        SparkSessions.checkBarrierStage(new SparkConf(false));
    }

    @Test
    void theUsersSettingsWinAndAnExistingSessionIsUsedAsItIs() {
        System.setProperty("spark.barrier.sync.timeout", "123");
        System.setProperty("spark.kryo.registrator", "dev.rq.jobs.SparkSessionsTest$NoOp");
        SparkSession s = SparkSessions.getOrCreate("settings-test", 1);
        try {
            SparkConf c = s.sparkContext().getConf();
            assertThat(c.get("spark.barrier.sync.timeout")).isEqualTo("123");
            assertThat(c.get("spark.kryo.registrator"))
                    .isEqualTo("dev.rq.jobs.SparkSessionsTest$NoOp," + RqKryoRegistrator.class.getName());
            assertThat(c.get("spark.dynamicAllocation.enabled")).isEqualTo("false"); // the project's default
            assertThat(c.get("spark.serializer")).isEqualTo("org.apache.spark.serializer.KryoSerializer");
            assertThat(c.get("spark.executorEnv.GLIBC_TUNABLES")).isEqualTo(SparkSessions.MALLOC_TUNABLES);
            // a second job of the same application gets the same session, nothing changed
            System.setProperty("spark.barrier.sync.timeout", "456");
            assertThat(SparkSessions.getOrCreate("another", 2)).isSameAs(s);
            assertThat(s.sparkContext().getConf().get("spark.barrier.sync.timeout")).isEqualTo("123");
        } finally {
            s.stop();
        }
    }

    /** A user's own Kryo registrator. */
    public static final class NoOp implements org.apache.spark.serializer.KryoRegistrator {
        @Override
        public void registerClasses(com.esotericsoftware.kryo.Kryo kryo) {}
    }
}
