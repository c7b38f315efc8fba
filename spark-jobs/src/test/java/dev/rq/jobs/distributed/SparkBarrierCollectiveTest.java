package dev.rq.jobs.distributed;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rq.collective.PortRange;
import dev.rq.collective.TcpRingCollective;
import dev.rq.collective.TcpRingCollectiveFailureTest;
import dev.rq.collective.TcpRingCollectiveTest;

import java.io.Serializable;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction1;

/** A real barrier stage on local[2]: two tasks build the ring through the driver and all-reduce. */
class SparkBarrierCollectiveTest {

    private static final int LENGTH = 1_000_003;
    private static SparkSession spark;

    @BeforeAll
    static void startSpark() {
        spark = SparkSession.builder()
                .master("local[2]")
                .appName("ring-collective-test")
                .config("spark.ui.enabled", "false")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.sql.shuffle.partitions", "2")
                .getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
    }

    @AfterAll
    static void stopSpark() {
        if (spark != null) {
            spark.stop();
        }
    }

    /** Runs in each barrier task: rank = partition, all-reduce a seeded array, return it plus a checksum. */
    static final class AllReduceTask extends AbstractFunction1<Iterator<Integer>, Iterator<float[]>>
            implements Serializable {
        private static final long serialVersionUID = 1L;
        private final String runToken;
        private final RingSettings settings;

        AllReduceTask(String runToken, RingSettings settings) {
            this.runToken = runToken;
            this.settings = settings;
        }

        @Override
        public Iterator<float[]> apply(Iterator<Integer> partition) {
            BarrierTaskContext ctx = BarrierTaskContext.get();
            try (TcpRingCollective c = BarrierCollectives.create(ctx, runToken, settings)) {
                if (c.rank() != ctx.partitionId() || c.worldSize() != 2) {
                    throw new IllegalStateException("bad rank/worldSize " + c);
                }
                PortRange ports = settings.ringPorts();
                if (c.listenPort() < ports.lo() || c.listenPort() > ports.hi()) {
                    throw new IllegalStateException("listened on " + c.listenPort() + ", outside " + ports);
                }
                float[] data = TcpRingCollectiveTest.floats(c.rank(), LENGTH, 42);
                c.allReduceSum(data);
                // cross-check on every rank that all ranks hold the same bits
                List<byte[]> sums = c.allGather(ByteBuffer.allocate(4).putInt(java.util.Arrays.hashCode(data)).array());
                for (byte[] s : sums) {
                    if (ByteBuffer.wrap(s).getInt() != java.util.Arrays.hashCode(data)) {
                        throw new IllegalStateException("ranks disagree");
                    }
                }
                c.barrier();
                return CollectionConverters.asScala(List.of(data).iterator());
            }
        }
    }

    @Test
    void barrierStageAllReducesExactly() {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        JavaRDD<Integer> ranks = jsc.parallelize(List.of(0, 1), 2);
        ClassTag<float[]> tag = ClassTag$.MODULE$.apply(float[].class);
        String runToken = jsc.sc().applicationId() + "/" + UUID.randomUUID();
        // the ranks listen inside a configured range of two ports (as behind a firewall)
        int lo = TcpRingCollectiveFailureTest.freeRange(2);
        RingSettings settings = RingSettings.from(new SparkConf().set(RingSettings.RING_PORTS, lo + "-" + (lo + 1))
                .set(RingSettings.RING_SETUP_TIMEOUT, "20s"), Duration.ofSeconds(30));
        assertThat(settings.setupTimeout()).isEqualTo(Duration.ofSeconds(20));
        RDD<float[]> reduced = ranks.rdd().barrier().mapPartitions(new AllReduceTask(runToken, settings), false, tag);
        List<float[]> results = JavaRDD.fromRDD(reduced, tag).collect();

        float[] expected = TcpRingCollectiveTest.referenceSum(new float[][] {
            TcpRingCollectiveTest.floats(0, LENGTH, 42), TcpRingCollectiveTest.floats(1, LENGTH, 42)});
        assertThat(results).hasSize(2);
        TcpRingCollectiveTest.assertSameBits(expected, results.get(0), "partition 0");
        TcpRingCollectiveTest.assertSameBits(expected, results.get(1), "partition 1");
    }

    /** Barrier calls in each task: raw Spark ones, or through {@link SparkBarriers}. */
    static final class BarrierCalls extends AbstractFunction1<Iterator<Integer>, Iterator<Integer>>
            implements Serializable {
        private static final long serialVersionUID = 1L;
        private final boolean raw;

        BarrierCalls(boolean raw) {
            this.raw = raw;
        }

        @Override
        public Iterator<Integer> apply(Iterator<Integer> partition) {
            BarrierTaskContext ctx = BarrierTaskContext.get();
            for (int i = 0; i < 3; i++) {
                if (raw) {
                    ctx.barrier();
                } else {
                    SparkBarriers.barrier(ctx);
                }
            }
            String[] all = raw ? ctx.allGather("x") : SparkBarriers.allGather(ctx, "x");
            return CollectionConverters.asScala(List.of(all.length).iterator());
        }
    }

    private static int barrierLoggersAfter(boolean raw) {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        ClassTag<Integer> tag = ClassTag$.MODULE$.apply(Integer.class);
        java.util.Set<Runnable> before = SparkBarriers.scheduled();
        List<Integer> n = JavaRDD.fromRDD(jsc.parallelize(List.of(0, 1), 2).rdd().barrier()
                .mapPartitions(new BarrierCalls(raw), false, tag), tag).collect();
        assertThat(n).containsExactly(2, 2);
        int left = 0;
        for (Runnable r : SparkBarriers.scheduled()) {
            if (!before.contains(r)) {
                left++;
                ((java.util.concurrent.Future<?>) r).cancel(false); // not into the next tests' logs
            }
        }
        return left;
    }

    @Test
    void barrierCallsLeaveNoProgressLoggerBehind() {
        // Spark 4.0 keeps a once-a-minute "waiting under the global sync" logger of every call forever
        assertThat(barrierLoggersAfter(true)).as("raw Spark barrier calls (2 tasks x 4 calls)").isEqualTo(8);
        assertThat(barrierLoggersAfter(false)).isZero();
    }

    @Test
    void executorHosts() {
        assertThat(BarrierCollectives.hostOf("10.1.2.3:4040")).isEqualTo("10.1.2.3");
        assertThat(BarrierCollectives.hostOf("[fe80::1]:4040")).isEqualTo("fe80::1");
        assertThat(BarrierCollectives.hostOf("worker-7")).isEqualTo("worker-7");
    }

    @Test
    void badRingSettingsFailNamingTheKey() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> RingSettings.from(
                new SparkConf().set(RingSettings.RING_PORTS, "40100-40000"), Duration.ofSeconds(30)))
                .hasMessageStartingWith(RingSettings.RING_PORTS + ": ");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> RingSettings.from(
                new SparkConf().set(RingSettings.PROGRESS_CONNECT_TIMEOUT, "soon"), Duration.ofSeconds(30)))
                .hasMessageStartingWith(RingSettings.PROGRESS_CONNECT_TIMEOUT + ": ");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> RingSettings.from(new SparkConf(), Duration.ZERO))
                .hasMessageStartingWith("--collective-timeout: ");
        RingSettings d = RingSettings.from(new SparkConf(), Duration.ofSeconds(30));
        assertThat(d).isEqualTo(RingSettings.defaults(Duration.ofSeconds(30)));
    }
}
