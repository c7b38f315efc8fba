package dev.rq.model.engine;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class NoGradTest {
    /**
     * A thread that did not start the engine (a Spark task thread) has autograd on; NoGrad turns it
     * off for its scope and restores it (ops on a tensor that requires a gradient are recorded again after it).
     */
    @Test
    void turnsAutogradOffInAFreshThreadAndRestoresIt() throws Exception {
        Engines.pytorch(1);
        List<Object> seen = new ArrayList<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try (NDManager m = Engines.newManager()) {
                NDArray x = m.create(new float[] {1f, 2f});
                JniUtils.attachGradient((PtNDArray) x, true);
                seen.add(JniUtils.isGradMode()); // libtorch's per-thread default
                seen.add(recorded(x.mul(x)));
                try (NoGrad outer = NoGrad.enter()) {
                    seen.add(JniUtils.isGradMode()); // = torch::GradMode::is_enabled: no op is recorded
                    try (NoGrad inner = NoGrad.enter()) {
                        seen.add(JniUtils.isGradMode());
                    }
                    seen.add(JniUtils.isGradMode()); // the inner scope restores "off", not "on"
                }
                seen.add(JniUtils.isGradMode());
                seen.add(recorded(x.mul(x)));
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        t.start();
        t.join();
        assertThat(failure.get()).isNull();
        assertThat(seen).containsExactly(true, true, false, false, false, true, true);
    }

    /**
     * @return whether autograd recorded the op that made y (its grad_fn, e.g. MulBackward0); DJL 0.36's
     *     call aborts the JVM for a tensor without one, so only ask where one is expected
     */
    private static boolean recorded(NDArray y) {
        String fn = JniUtils.getGradientFunctionNames((PtNDArray) y);
        return fn != null && !fn.isEmpty();
    }

    /** On a thread with autograd already off (the engine's own), NoGrad leaves it off. */
    @Test
    void leavesAnOffThreadOff() {
        Engines.pytorch(1);
        boolean before = JniUtils.isGradMode();
        JniUtils.setGradMode(false);
        try {
            try (NoGrad scope = NoGrad.enter()) {
                assertThat(JniUtils.isGradMode()).isFalse();
            }
            assertThat(JniUtils.isGradMode()).isFalse();
        } finally {
            JniUtils.setGradMode(before);
        }
    }
}
