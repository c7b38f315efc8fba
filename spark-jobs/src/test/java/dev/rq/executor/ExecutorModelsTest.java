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
        // another device or another checkpoint is another model
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

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
