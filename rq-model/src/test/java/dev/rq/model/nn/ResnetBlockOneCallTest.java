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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link ResnetBlock} as one native call ({@code -Drq.kernels.fused_resblock}, the default) against
 * the block-by-block DJL path: the same operators in the same order, so the output and every gradient
 * (input, GroupNorm affines, convolution weights and biases, the float32 masters of bfloat16 casts) must
 * be bit-identical, in float32 and bfloat16, NCHW and channels-last, with and without {@code
 * nin_shortcut}, under autograd and in inference (bfloat16 inference also with the store frozen, the
 * held weight casts of tokenizing).
 */
class ResnetBlockOneCallTest {

    @AfterEach
    void reset() {
        System.clearProperty("rq.kernels.fused_resblock");
    }

    @ParameterizedTest(name = "{0}->{1} {2} channels-last {3} grad {4} frozen {5}")
    @CsvSource({
        "32,32,fp32,false,true,false", "32,64,fp32,false,true,false", "32,64,fp32,true,true,false",
        "64,32,fp32,true,false,false", "32,32,fp32,true,false,false",
        "32,32,bf16,false,true,false", "32,64,bf16,false,true,false", "64,32,bf16,true,true,false",
        "32,64,bf16,true,false,false", "32,64,bf16,true,false,true", "32,32,bf16,false,false,true"})
    void oneCallEqualsTheBlockByBlockPath(int in, int out, String precision, boolean channelsLast, boolean grad,
            boolean frozen) {
        Engines.pytorch(1);
        Precision p = precision.equals("bf16") ? Precision.BF16 : Precision.FP32;
        List<float[]> reference = run(false, in, out, p, channelsLast, grad, frozen);
        List<float[]> oneCall = run(true, in, out, p, channelsLast, grad, frozen);
        assertThat(oneCall).hasSameSizeAs(reference);
        assertThat(reference.size()).isEqualTo(grad ? 2 + (in == out ? 8 : 10) : 1);
        for (int i = 0; i < reference.size(); i++) {
            assertThat(oneCall.get(i)).as("tensor %d", i).containsExactly(reference.get(i));
        }
    }

    /** @return the output (as float32), then under autograd x's gradient and each parameter's in key order */
    private static List<float[]> run(boolean oneCall, int in, int out, Precision p, boolean channelsLast,
            boolean grad, boolean frozen) {
        System.setProperty("rq.kernels.fused_resblock", Boolean.toString(oneCall));
        List<float[]> result = new ArrayList<>();
        try (NDManager m = Engines.newManager(); ParamStore ps = new ParamStore(m)) {
            ResnetBlock block = new ResnetBlock(ps, "b", in, out, 0.0);
            ps.initialize(new Rng(7));
            // non-trivial affines (initialised to ones and zeros)
            Rng r = new Rng(11);
            for (String k : ps.keys()) {
                if (k.contains("norm")) {
                    float[] v = ps.get(k).toFloatArray();
                    for (int i = 0; i < v.length; i++) {
                        v[i] += (float) (0.1 * r.nextGaussian());
                    }
                    ps.set(k, Tensors.of(m, v, ps.get(k).getShape()));
                }
            }
            ps.setPrecision(p);
            float[] xv = new float[2 * in * 8 * 8];
            for (int i = 0; i < xv.length; i++) {
                xv[i] = (float) r.nextGaussian();
            }
            NDArray x = Tensors.of(m, xv, new Shape(2, in, 8, 8));
            x = channelsLast ? Kernels.channelsLast(x) : Kernels.contiguous(x);
            x = ps.toCompute(x);
            assertThat(block.oneCall(x, grad)).as("runs as one call").isEqualTo(oneCall);
            if (grad) {
                x.setRequiresGradient(true);
                for (String k : ps.keys()) {
                    ps.get(k).setRequiresGradient(true);
                }
                JniUtils.setGradMode(true);
                try {
                    NDArray y = block.forward(x, true);
                    result.add(Kernels.toFloat32(y).toFloatArray());
                    float[] wv = new float[Math.toIntExact(y.getShape().size())];
                    for (int i = 0; i < wv.length; i++) {
                        wv[i] = (float) r.nextGaussian();
                    }
                    NDArray w = Tensors.of(m, wv, y.getShape());
                    NDArray loss = Kernels.toFloat32(y).mul(w).sum();
                    JniUtils.backward((PtNDArray) loss, (PtNDArray) loss.onesLike(), false, false);
                } finally {
                    JniUtils.setGradMode(false);
                }
                result.add(Kernels.toFloat32(x.getGradient()).toFloatArray());
                for (String k : ps.keys()) {
                    result.add(ps.get(k).getGradient().toFloatArray());
                }
            } else if (frozen) {
                try (ParamStore.Frozen f = ps.freeze()) {
                    result.add(Kernels.toFloat32(block.forward(x, false)).toFloatArray());
                }
            } else {
                result.add(Kernels.toFloat32(block.forward(x, false)).toFloatArray());
            }
        }
        return result;
    }
}
