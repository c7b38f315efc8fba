package dev.rq.model.nn;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.kernels.Kernels;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link Ops#conv2d} gradients against a brute-force sum in double precision. The shapes with
 * fewer output channels than libtorch's CPU block (the RQ-VAE's {@code conv_out} 3 channels, a
 * 1-channel discriminator head or LPIPS layer) are the ones libtorch 2.7.1 gets wrong on AVX-512
 * CPUs without the padding of {@link Ops#conv2d} (see there); the others are controls.
 */
class Conv2dGradientTest {

    @ParameterizedTest(name = "conv {0}->{1}, k {2}, stride {3}, pad {4}")
    @CsvSource({"32,3,3,1,1", "16,1,1,1,0", "16,1,4,1,1", "8,5,3,2,1", "32,32,3,1,1", "3,32,3,1,1", "3,16,4,2,1", "3,64,3,1,1", "64,64,3,1,1", "512,1,1,1,0"})
    void inputAndWeightGradientsEqualTheDefinition(int cin, int cout, int k, int stride, int pad) {
        int batch = 2;
        int h = 12;
        int ho = (h + 2 * pad - k) / stride + 1;
        Engines.pytorch(2);
        try (NDManager m = Engines.newManager()) {
            NDArray x = m.randomNormal(new Shape(batch, cin, h, h));
            NDArray w = m.randomNormal(new Shape(cout, cin, k, k));
            NDArray b = m.randomNormal(new Shape(cout));
            NDArray g = m.randomNormal(new Shape(batch, cout, ho, ho));
            float[] xf = x.toFloatArray();
            float[] wf = w.toFloatArray();
            float[] bf = b.toFloatArray();
            float[] gf = g.toFloatArray();
            // the definition: y[n,o,oi,oj] = b[o] + sum_{c,di,dj} w[o,c,di,dj] x[n,c,oi*s+di-p,oj*s+dj-p]
            double[] y = new double[batch * cout * ho * ho];
            double[] gx = new double[xf.length];
            double[] gw = new double[wf.length];
            for (int n = 0; n < batch; n++) {
                for (int o = 0; o < cout; o++) {
                    for (int oi = 0; oi < ho; oi++) {
                        for (int oj = 0; oj < ho; oj++) {
                            int yo = ((n * cout + o) * ho + oi) * ho + oj;
                            y[yo] = bf[o];
                            for (int c = 0; c < cin; c++) {
                                for (int di = 0; di < k; di++) {
                                    for (int dj = 0; dj < k; dj++) {
                                        int i = oi * stride + di - pad;
                                        int j = oj * stride + dj - pad;
                                        if (i < 0 || i >= h || j < 0 || j >= h) {
                                            continue;
                                        }
                                        int xi = ((n * cin + c) * h + i) * h + j;
                                        int wi = ((o * cin + c) * k + di) * k + dj;
                                        y[yo] += wf[wi] * (double) xf[xi];
                                        gx[xi] += gf[yo] * (double) wf[wi];
                                        gw[wi] += gf[yo] * (double) xf[xi];
                                    }
                                }
                            }
                        }
                    }
                }
            }
            x.setRequiresGradient(true);
            w.setRequiresGradient(true);
            NDArray out;
            JniUtils.setGradMode(true);
            try {
                out = Ops.conv2d(x, w, b, stride, pad);
                NDArray loss = out.mul(g).sum();
                JniUtils.backward((PtNDArray) loss, (PtNDArray) loss.onesLike(), false, false);
            } finally {
                JniUtils.setGradMode(false);
            }
            assertThat(out.getShape()).isEqualTo(new Shape(batch, cout, ho, ho));
            assertClose("output", out.toFloatArray(), y);
            assertClose("input gradient", x.getGradient().toFloatArray(), gx);
            assertClose("weight gradient", w.getGradient().toFloatArray(), gw);
            // without autograd (evaluation) the unpadded convolution gives the same output
            try (NDArray eval = Ops.conv2d(x.stopGradient(), w.stopGradient(), b, stride, pad)) {
                assertClose("output without autograd", eval.toType(DataType.FLOAT32, false).toFloatArray(), y);
            }
        }
    }

    /**
     * The padded convolution in channels-last memory and in bfloat16 (the VAE's default layout and
     * its {@code --precision bf16} path): the same input and weight gradients as the NCHW float32
     * convolution checked above (exactly up to rounding in float32, within bfloat16's precision in
     * bfloat16). The bfloat16 case is skipped, with the reason printed, on CPUs without bf16 units.
     */
    @ParameterizedTest(name = "conv 32->3 channels-last, bf16 {0}")
    @CsvSource({"false", "true"})
    void channelsLastAndBf16GradientsEqualNchwFloat32(boolean bf16) {
        if (bf16 && !Precision.cpuHasBf16()) {
            String why = "this CPU has no bfloat16 units: the bf16 convolution gradient check is skipped";
            System.out.println("Conv2dGradientTest: " + why);
            Assumptions.abort(why);
        }
        Engines.pytorch(2);
        try (NDManager m = Engines.newManager()) {
            NDArray x = m.randomNormal(new Shape(2, 32, 12, 12));
            NDArray w = m.randomNormal(new Shape(3, 32, 3, 3));
            NDArray b = m.randomNormal(new Shape(3));
            NDArray g = m.randomNormal(new Shape(2, 3, 12, 12));
            float[][] ref = gradients(x, w, b, g, false, false);
            float[][] got = gradients(x, w, b, g, true, bf16);
            double tol = bf16 ? 2e-2 : 1e-5;
            String[] what = {"output", "input gradient", "weight gradient"};
            for (int i = 0; i < 3; i++) {
                assertThat(relativeError(got[i], ref[i])).as(what[i]).isLessThan(tol);
            }
        }
    }

    /** @return {output, input gradient, weight gradient} of {@code sum(conv(x, w, b) · g)} as float32 */
    private static float[][] gradients(NDArray x0, NDArray w0, NDArray b, NDArray g, boolean channelsLast, boolean bf16) {
        NDArray x = x0.duplicate();
        NDArray w = w0.duplicate();
        x.setRequiresGradient(true);
        w.setRequiresGradient(true);
        JniUtils.setGradMode(true);
        try {
            NDArray xi = channelsLast ? Kernels.channelsLast(x) : x;
            NDArray out = bf16 ? Ops.conv2d(Kernels.toBf16(xi), Kernels.toBf16(w), Kernels.toBf16(b), 1, 1)
                    : Ops.conv2d(xi, w, b, 1, 1);
            NDArray out32 = Kernels.toFloat32(out);
            NDArray loss = out32.mul(g).sum();
            JniUtils.backward((PtNDArray) loss, (PtNDArray) loss.onesLike(), false, false);
            return new float[][] {Kernels.contiguous(out32).toFloatArray(), x.getGradient().toFloatArray(),
                w.getGradient().toFloatArray()};
        } finally {
            JniUtils.setGradMode(false);
        }
    }

    private static double relativeError(float[] a, float[] b) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (a[i] - b[i]) * (double) (a[i] - b[i]);
            den += b[i] * (double) b[i];
        }
        return Math.sqrt(num / den);
    }

    private static void assertClose(String what, float[] got, double[] want) {
        assertThat(got).as(what).hasSize(want.length);
        for (int i = 0; i < want.length; i++) {
            double tol = 1e-4 * (1 + Math.abs(want[i])) * 10;
            assertThat((double) got[i]).as("%s[%d]", what, i).isCloseTo(want[i], org.assertj.core.api.Assertions.within(tol));
        }
    }
}
