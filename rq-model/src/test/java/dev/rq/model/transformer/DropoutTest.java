package dev.rq.model.transformer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.engine.Engines;
import dev.rq.model.kernels.Kernels;
import dev.rq.model.nn.Tensors;
import dev.rq.model.util.Rng;
import java.util.Arrays;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Dropout masks: per-sample streams, the same whether a batch is drawn on several threads or one
 * sample at a time, and the same values and gradients as the session-6 float mask drawn serially.
 */
class DropoutTest {

    @Test
    void aBatchDrawnInParallelEqualsEachSampleDrawnAlone() {
        Engines.pytorch(1);
        int samples = 16;
        int per = 3 * 4096; // the batch (196,608 elements) is drawn in parallel, each sample alone serially
        try (NDManager m = Engines.newManager()) {
            float[] batch = Dropout.forSamples(7, 100, samples, 3, 5).apply(m.ones(new Shape(samples, 3, 4096)), 0.1)
                    .toFloatArray();
            int dropped = 0;
            for (int b = 0; b < samples; b++) {
                NDArray one = Dropout.forSamples(7, 100 + b, 1, 3, 5).apply(m.ones(new Shape(1, 3, 4096)), 0.1);
                float[] alone = one.toFloatArray();
                for (int i = 0; i < per; i++) {
                    assertThat(batch[b * per + i]).as("sample %d element %d", b, i).isEqualTo(alone[i]);
                    dropped += alone[i] == 0f ? 1 : 0;
                }
            }
            assertThat(dropped / (double) batch.length).isBetween(0.09, 0.11);
            assertThat(batch).contains((float) (1 / 0.9));
        }
    }

    @Test
    void byteMasksGiveTheFloatMasksValuesAndGradients() {
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager()) {
            Rng r = new Rng(11);
            float[] v = new float[16 * 5 * 1024];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) r.nextGaussian();
            }
            NDArray x = Tensors.of(m, v, new Shape(16, 5, 1024));
            for (NDArray in : new NDArray[] {x, Kernels.toBf16(x)}) {
                for (double p : new double[] {0.1, 0.37}) {
                    float[][] bytes = valueAndGradient(in, y -> Dropout.forSamples(3, 40, 16, 9).apply(y, p));
                    System.setProperty("rq.dropout.serial_float_mask", "true");
                    float[][] floats;
                    try {
                        floats = valueAndGradient(in, y -> Dropout.forSamples(3, 40, 16, 9).apply(y, p));
                    } finally {
                        System.clearProperty("rq.dropout.serial_float_mask");
                    }
                    // Arrays.equals compares bits: +0 and -0 differ
                    assertThat(Arrays.equals(bytes[0], floats[0])).as("value %s p=%s", in.getDataType(), p).isTrue();
                    assertThat(Arrays.equals(bytes[1], floats[1])).as("gradient %s p=%s", in.getDataType(), p).isTrue();
                    assertThat(bytes[0]).contains(0f);
                }
            }
        }
    }

    /** @return f(x) as float32 values, and d(sum(f(x)·w))/dx for a fixed weighting w */
    private static float[][] valueAndGradient(NDArray x0, Function<NDArray, NDArray> f) {
        NDArray x = x0.duplicate();
        x.setRequiresGradient(true);
        JniUtils.setGradMode(true);
        NDArray y;
        try {
            y = f.apply(x);
            NDArray w = y.getManager().arange((float) y.getShape().size()).reshape(y.getShape()).mul(1e-3f);
            NDArray loss = Kernels.toFloat32(y).mul(w).sum();
            JniUtils.backward((PtNDArray) loss, (PtNDArray) loss.onesLike(), false, false);
        } finally {
            JniUtils.setGradMode(false);
        }
        return new float[][] {Kernels.toFloat32(y).toFloatArray(), Kernels.toFloat32(x.getGradient()).toFloatArray()};
    }
}
