package dev.rq.model.nn;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.kernels.Kernels;
import dev.rq.model.util.Rng;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link Upsample} under autograd as one transposed convolution ({@code -Drq.vae.upsample_transposed}, the
 * default in training passes; {@link Kernels#upsampleNearestConv3x3}) against the explicit nearest
 * upsampling and 3×3 convolution: output, input gradient, weight and bias gradients equal up to float
 * rounding (float32: 2e-5 of each tensor's largest magnitude; bfloat16: 2e-2), NCHW and channels-last, odd
 * and even sizes. Without autograd (inference) the layer takes the explicit path, bit for bit.
 */
class UpsampleTransposedTest {

    @AfterEach
    void reset() {
        System.clearProperty("rq.vae.upsample_transposed");
    }

    @ParameterizedTest(name = "{0} channels, {1}x{2}, {3}, channels-last {4}")
    @CsvSource({"16,5,7,fp32,false", "32,8,8,fp32,false", "64,6,6,fp32,true", "128,4,4,fp32,false",
        "32,8,8,bf16,false", "64,5,5,bf16,true"})
    void transposedConvolutionEqualsUpsampleThenConvolution(int c, int h, int w, String precision,
            boolean channelsLast) {
        Engines.pytorch(1);
        Precision p = precision.equals("bf16") ? Precision.BF16 : Precision.FP32;
        if (p == Precision.BF16) {
            Assumptions.assumeTrue(Precision.cpuHasBf16(), "no bfloat16 units on this CPU");
        }
        List<float[]> explicit = run(false, c, h, w, p, channelsLast, true);
        List<float[]> transposed = run(true, c, h, w, p, channelsLast, true);
        double tol = p == Precision.BF16 ? 2e-2 : 2e-5;
        assertThat(transposed).hasSize(4);
        for (int i = 0; i < explicit.size(); i++) {
            float[] a = transposed.get(i);
            float[] e = explicit.get(i);
            assertThat(a).as("tensor %d", i).hasSameSizeAs(e);
            double scale = 0;
            for (float v : e) {
                scale = Math.max(scale, Math.abs(v));
            }
            assertThat(scale).as("tensor %d is not all zeros", i).isGreaterThan(0);
            for (int k = 0; k < a.length; k++) {
                assertThat((double) Math.abs(a[k] - e[k])).as("tensor %d element %d", i, k).isLessThanOrEqualTo(tol * scale);
            }
        }
        // inference keeps the explicit path whatever the switch: the same bits
        assertThat(run(true, c, h, w, p, channelsLast, false).get(0))
                .containsExactly(run(false, c, h, w, p, channelsLast, false).get(0));
    }

    /** @return the output as float32, then (under autograd) the gradients of x, the conv weight and bias */
    private static List<float[]> run(boolean transposed, int c, int h, int w, Precision p, boolean channelsLast,
            boolean grad) {
        System.setProperty("rq.vae.upsample_transposed", Boolean.toString(transposed));
        List<float[]> result = new ArrayList<>();
        try (NDManager m = Engines.newManager(); ParamStore ps = new ParamStore(m)) {
            Upsample up = new Upsample(ps, "up", c);
            ps.initialize(new Rng(3));
            ps.setPrecision(p);
            Rng r = new Rng(5);
            float[] xv = new float[2 * c * h * w];
            for (int i = 0; i < xv.length; i++) {
                xv[i] = (float) r.nextGaussian();
            }
            NDArray x = Tensors.of(m, xv, new Shape(2, c, h, w));
            x = ps.toCompute(channelsLast ? Kernels.channelsLast(x) : Kernels.contiguous(x));
            if (!grad) {
                assertThat(up.transposed(x)).as("inference: explicit path").isFalse();
                result.add(Kernels.toFloat32(up.forward(x)).toFloatArray());
                return result;
            }
            x.setRequiresGradient(true);
            for (String k : ps.keys()) {
                ps.get(k).setRequiresGradient(true);
            }
            JniUtils.setGradMode(true);
            try {
                assertThat(up.transposed(x)).as("takes the transposed path").isEqualTo(transposed);
                NDArray y = up.forward(x);
                assertThat(y.getShape()).isEqualTo(new Shape(2, c, 2L * h, 2L * w));
                result.add(Kernels.toFloat32(y).toFloatArray());
                float[] gv = new float[Math.toIntExact(y.getShape().size())];
                for (int i = 0; i < gv.length; i++) {
                    gv[i] = (float) r.nextGaussian();
                }
                NDArray loss = Kernels.toFloat32(y).mul(Tensors.of(m, gv, y.getShape())).sum();
                JniUtils.backward((PtNDArray) loss, (PtNDArray) loss.onesLike(), false, false);
            } finally {
                JniUtils.setGradMode(false);
            }
            result.add(Kernels.toFloat32(x.getGradient()).toFloatArray());
            result.add(ps.get("up.conv.weight").getGradient().toFloatArray());
            result.add(ps.get("up.conv.bias").getGradient().toFloatArray());
        }
        return result;
    }
}
