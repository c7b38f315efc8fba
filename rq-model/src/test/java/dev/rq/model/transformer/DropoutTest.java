package dev.rq.model.transformer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.engine.Engines;
import dev.rq.model.util.Rng;
import org.junit.jupiter.api.Test;

class DropoutTest {

    /** The mask of {@link Dropout#apply} written out: per sample, four 16-bit uniforms per 64-bit draw. */
    private static float[] expectedMask(long seed, int samples, int per, double p) {
        float keep = (float) (1.0 / (1.0 - p));
        int threshold = (int) Math.round(p * 65536);
        float[] mask = new float[samples * per];
        for (int b = 0; b < samples; b++) {
            Rng r = Rng.of(seed, 7L, b);
            int i = b * per;
            int end = i + per;
            while (i < end) {
                long bits = r.nextLong();
                for (int j = 0; j < 4 && i < end; j++, i++) {
                    mask[i] = (int) (bits & 0xFFFF) < threshold ? 0f : keep;
                    bits >>>= 16;
                }
            }
        }
        return mask;
    }

    /**
     * Masks follow the per-sample streams, and the reused mask buffer does not corrupt what autograd
     * kept: a first application's gradient is still its own mask after larger and smaller ones
     * (buffer grown, then reused) were drawn.
     */
    @Test
    void masksFollowTheStreamsAndSurviveBufferReuse() {
        Engines.pytorch(1);
        int samples = 3;
        try (NDManager m = Engines.newManager()) {
            Dropout drop = Dropout.forSamples(11, 0, samples, 7L);
            NDArray x = m.ones(new Shape(samples, 5, 6));
            x.setRequiresGradient(true);
            NDArray y;
            JniUtils.setGradMode(true);
            try {
                y = drop.apply(x, 0.25);
                NDArray bigger = drop.apply(m.ones(new Shape(samples, 40, 8)), 0.25);
                NDArray smaller = drop.apply(m.ones(new Shape(samples, 2, 3)), 0.25);
                assertThat(bigger.getShape()).isEqualTo(new Shape(samples, 40, 8));
                assertThat(smaller.getShape()).isEqualTo(new Shape(samples, 2, 3));
                NDArray loss = y.sum();
                JniUtils.backward((PtNDArray) loss, (PtNDArray) loss.onesLike(), false, false);
            } finally {
                JniUtils.setGradMode(false);
            }
            float[] expected = expectedMask(11, samples, 30, 0.25);
            assertThat(y.toFloatArray()).containsExactly(expected);
            assertThat(x.getGradient().toFloatArray()).containsExactly(expected);
            int dropped = 0;
            for (float v : expected) {
                dropped += v == 0f ? 1 : 0;
            }
            assertThat(dropped).isBetween(5, 40); // p = 0.25 of 90 elements
        }
    }
}
