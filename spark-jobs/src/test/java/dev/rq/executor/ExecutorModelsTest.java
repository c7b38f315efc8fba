package dev.rq.executor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.Device;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.SparkConf;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ExecutorModelsTest {

    /** A stand-in model that records where it was loaded and whether it was closed. */
    static final class Fake implements AutoCloseable {
        final Device device;
        boolean closed;

        Fake(Device device) {
            this.device = device;
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    @AfterEach
    void clear() {
        ExecutorModels.setMaxModelsForTest(null);
        ExecutorModels.clear();
    }

    @Test
    void oneLoadPerKeyAndDeviceSharedByConcurrentTasks() throws Exception {
        AtomicInteger loads = new AtomicInteger();
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Fake>> got = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                got.add(pool.submit(() -> {
                    start.await();
                    return ExecutorModels.get("test-a", "ckpt#sha", Device.cpu(), d -> {
                        loads.incrementAndGet();
                        sleep(50);
                        return new Fake(d);
                    });
                }));
            }
            start.countDown();
            Fake first = got.get(0).get();
            for (Future<Fake> f : got) {
                assertThat(f.get()).isSameAs(first);
            }
            assertThat(loads).hasValue(1);
            assertThat(ExecutorModels.loadCount("test-a")).isEqualTo(1);
        } finally {
            pool.shutdownNow();
        }
        // another device or another checkpoint is another model (a bound of 3 per device keeps them all)
        ExecutorModels.setMaxModelsForTest(3);
        Fake gpu1 = ExecutorModels.get("test-a", "ckpt#sha", Device.gpu(1), Fake::new);
        Fake other = ExecutorModels.get("test-a", "other#sha", Device.cpu(), Fake::new);
        assertThat(gpu1.device).isEqualTo(Device.gpu(1));
        assertThat(other).isNotSameAs(ExecutorModels.get("test-a", "ckpt#sha", Device.cpu(), Fake::new));
        assertThat(ExecutorModels.loadCount("test-a")).isEqualTo(3);
        ExecutorModels.clear();
        assertThat(gpu1.closed).isTrue();
        assertThat(other.closed).isTrue();
    }

    @Test
    void aFailedLoadIsNotCachedTheNextTaskRetries() {
        assertThatThrownBy(() -> ExecutorModels.get("test-b", "k", Device.cpu(), d -> {
            throw new IllegalStateException("checkpoint unreadable");
        })).hasMessage("checkpoint unreadable");
        Fake f = ExecutorModels.get("test-b", "k", Device.cpu(), Fake::new);
        assertThat(f).isNotNull();
        assertThat(ExecutorModels.loadCount("test-b")).isEqualTo(1);
    }

    @Test
    void leastRecentlyUsedIdleModelsAreClosedBeyondTheBoundPerDevice() {
        ExecutorModels.setMaxModelsForTest(2);
        Fake a = idle("a", Device.cpu());
        Fake b = idle("b", Device.cpu());
        Fake gpu = idle("g", Device.gpu(0)); // another device: its own bound
        assertThat(idle("a", Device.cpu())).isSameAs(a); // a is now more recent than b
        Fake c = idle("c", Device.cpu());
        assertThat(b.closed).as("least recently used").isTrue();
        assertThat(a.closed || c.closed || gpu.closed).isFalse();
        Fake d = idle("d", Device.cpu());
        assertThat(a.closed).isTrue();
        assertThat(c.closed || d.closed).isFalse();
        assertThat(ExecutorModels.evictionCount("test-lru")).isEqualTo(2);
        // a re-request loads it again (and evicts the then least recent, c)
        int loads = ExecutorModels.loadCount("test-lru");
        Fake b2 = idle("b", Device.cpu());
        assertThat(b2).isNotSameAs(b);
        assertThat(b2.closed).isFalse();
        assertThat(ExecutorModels.loadCount("test-lru")).isEqualTo(loads + 1);
        assertThat(c.closed).isTrue();
        assertThat(d.closed).isFalse();
    }

    @Test
    void aLeasedModelIsNeverClosedAndTheBoundHoldsOnceItIsReleased() {
        ExecutorModels.setMaxModelsForTest(1);
        ExecutorModels.Lease<Fake> a = ExecutorModels.acquire("test-lease", "a", Device.cpu(), Fake::new);
        try (ExecutorModels.Lease<Fake> b = ExecutorModels.acquire("test-lease", "b", Device.cpu(), Fake::new)) {
            assertThat(a.get().closed).as("in use, though least recent and over the bound").isFalse();
            assertThat(b.get().closed).isFalse();
            assertThat(ExecutorModels.users("test-lease", "a", Device.cpu())).isEqualTo(1);
            // a second lease on a: releasing one of them keeps it
            ExecutorModels.acquire("test-lease", "a", Device.cpu(), Fake::new).close();
            assertThat(a.get().closed).isFalse();
        }
        // b released: a (still leased) and b make 2 > 1; b is the only idle one
        assertThat(a.get().closed).isFalse();
        ExecutorModels.Lease<Fake> b = ExecutorModels.acquire("test-lease", "b", Device.cpu(), Fake::new);
        assertThat(ExecutorModels.loadCount("test-lease")).as("b was closed on release and is loaded again").isEqualTo(3);
        a.close();
        a.close(); // a no-op
        assertThat(a.get().closed).as("a released: over the bound, least recently used").isTrue();
        assertThat(ExecutorModels.users("test-lease", "b", Device.cpu())).isEqualTo(1);
        b.close();
        assertThat(b.get().closed).as("within the bound").isFalse();
        assertThat(ExecutorModels.users("test-lease", "b", Device.cpu())).isZero();
    }

    @Test
    void concurrentTasksOverManyModelsNeverUseAClosedOne() throws Exception {
        ExecutorModels.setMaxModelsForTest(2);
        ExecutorService pool = Executors.newFixedThreadPool(6);
        AtomicInteger usedClosed = new AtomicInteger();
        List<Fake> all = java.util.Collections.synchronizedList(new ArrayList<>());
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < 6; t++) {
                int seed = t;
                done.add(pool.submit(() -> {
                    java.util.Random r = new java.util.Random(seed);
                    for (int i = 0; i < 300; i++) {
                        try (ExecutorModels.Lease<Fake> l = ExecutorModels.acquire("test-conc", "m" + r.nextInt(5),
                                Device.cpu(), d -> {
                                    Fake f = new Fake(d);
                                    all.add(f);
                                    return f;
                                })) {
                            if (l.get().closed) {
                                usedClosed.incrementAndGet();
                            }
                            Thread.yield();
                            if (l.get().closed) {
                                usedClosed.incrementAndGet();
                            }
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(usedClosed).hasValue(0);
        assertThat(ExecutorModels.evictionCount("test-conc")).isPositive();
        assertThat(all.stream().filter(f -> !f.closed).count()).as("open after the tasks: the bound").isLessThanOrEqualTo(2);
        assertThat(ExecutorModels.loadCount("test-conc") - ExecutorModels.evictionCount("test-conc"))
                .isEqualTo((int) all.stream().filter(f -> !f.closed).count());
    }

    @Test
    void sparkTasksHoldTheirModelUntilTheyCompleteOneLeasePerTask() {
        ExecutorModels.setMaxModelsForTest(1);
        SparkSession spark = SparkSession.builder().master("local[2]").appName("executor-models")
                .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
        try {
            JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
            List<Integer> seen = jsc.parallelize(List.of(0, 1, 2, 3), 2).mapPartitions(it -> {
                Fake a = ExecutorModels.get("test-spark", "a", Device.cpu(), Fake::new);
                Fake again = ExecutorModels.get("test-spark", "a", Device.cpu(), Fake::new);
                List<Integer> out = new ArrayList<>();
                // another model over the bound cannot close a: this task holds it until it completes
                ExecutorModels.get("test-spark", "b" + TaskContext.get().partitionId(), Device.cpu(), Fake::new);
                while (it.hasNext()) {
                    int users = ExecutorModels.users("test-spark", "a", Device.cpu());
                    out.add(a.closed || again != a || users < 1 || users > 2 ? -1 : it.next());
                }
                return out.iterator();
            }).collect();
            assertThat(seen).containsExactly(0, 1, 2, 3);
            assertThat(ExecutorModels.users("test-spark", "a", Device.cpu())).as("released at task completion").isZero();
            assertThat(ExecutorModels.loadCount("test-spark")).isBetween(3, 4);
            // the bound holds once the tasks are done: one model left open on the CPU
            Fake c = ExecutorModels.acquire("test-spark", "c", Device.cpu(), Fake::new).get();
            assertThat(c.closed).isFalse();
            assertThat(ExecutorModels.evictionCount("test-spark")).isEqualTo(ExecutorModels.loadCount("test-spark") - 1);
        } finally {
            spark.stop();
        }
    }

    @Test
    void theBoundIsValidatedNamingTheKey() {
        assertThat(ExecutorModels.maxModels(new SparkConf(false))).isEqualTo(ExecutorModels.DEFAULT_MAX_MODELS);
        assertThat(ExecutorModels.maxModels(new SparkConf(false).set(ExecutorModels.MAX_MODELS_CONF, " 5 ")))
                .isEqualTo(5);
        assertThatThrownBy(() -> ExecutorModels.maxModels(new SparkConf(false).set(ExecutorModels.MAX_MODELS_CONF, "0")))
                .hasMessageContaining(ExecutorModels.MAX_MODELS_CONF).hasMessageContaining("at least 1");
        assertThatThrownBy(() -> ExecutorModels.maxModels(new SparkConf(false).set(ExecutorModels.MAX_MODELS_CONF, "two")))
                .hasMessageContaining(ExecutorModels.MAX_MODELS_CONF).hasMessageContaining("'two'");
    }

    /** Requests a model and releases it at once (a task that has completed). */
    private static Fake idle(String identity, Device device) {
        try (ExecutorModels.Lease<Fake> l = ExecutorModels.acquire("test-lru", identity, device, Fake::new)) {
            return l.get();
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
