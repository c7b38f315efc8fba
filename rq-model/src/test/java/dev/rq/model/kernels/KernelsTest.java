package dev.rq.model.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import dev.rq.model.nn.Ops;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.engine.Engines;
import dev.rq.model.nn.Tensors;
import dev.rq.model.util.Rng;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every kernel against the same computation written with DJL's own operators, in value and in
 * gradient, on NCHW and channels-last inputs.
 */
class KernelsTest {

    private static NDManager m;

    @BeforeAll
    static void start() {
        Engines.pytorch(1);
        m = Engines.newManager();
    }

    @AfterAll
    static void stop() {
        m.close();
    }

    private static NDArray random(long seed, long... shape) {
        Shape s = new Shape(shape);
        Rng r = new Rng(seed);
        float[] v = new float[Math.toIntExact(s.size())];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return Tensors.of(m, v, s);
    }

    /** Old-style GroupNorm: a layer norm over each flattened group, then the affine map. */
    private static NDArray referenceGroupNorm(NDArray x, int groups, NDArray gamma, NDArray beta, float eps) {
        Shape s = x.getShape();
        long b = s.get(0);
        long c = s.get(1);
        long n = s.size() / (b * groups);
        NDArray g = x.reshape(b, groups, n);
        NDArray mean = g.mean(new int[] {2}, true);
        NDArray var = g.sub(mean).square().mean(new int[] {2}, true);
        NDArray normed = g.sub(mean).div(var.add(eps).sqrt()).reshape(s);
        return normed.mul(gamma.reshape(1, c, 1, 1)).add(beta.reshape(1, c, 1, 1));
    }

    /** @return d(sum(f(x)·w))/dx for a fixed random weighting w */
    private static float[] gradient(NDArray x0, Function<NDArray, NDArray> f) {
        NDArray x = x0.duplicate();
        x.setRequiresGradient(true);
        JniUtils.setGradMode(true);
        try {
            NDArray y = f.apply(x);
            NDArray loss = Kernels.toFloat32(y).mul(random(99, y.getShape().getShape())).sum();
            JniUtils.backward((PtNDArray) loss, (PtNDArray) loss.onesLike(), false, false);
        } finally {
            JniUtils.setGradMode(false);
        }
        return x.getGradient().toFloatArray();
    }

    private static void assertClose(float[] actual, float[] expected, double tol) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < actual.length; i++) {
            assertThat((double) actual[i]).as("element %d", i).isCloseTo(expected[i], within(tol));
        }
    }

    @Test
    void channelsLastKeepsValuesAndChangesStrides() {
        NDArray x = random(1, 2, 8, 3, 5);
        assertThat(Kernels.isChannelsLast(x)).isFalse();
        NDArray cl = Kernels.channelsLast(x);
        assertThat(Kernels.isChannelsLast(cl)).isTrue();
        assertThat(cl.getShape()).isEqualTo(x.getShape());
        assertThat(cl.toFloatArray()).containsExactly(x.toFloatArray());
    }

    @Test
    void vaeLayoutIsChannelsLastForInferenceAndNchwForTraining() {
        NDArray nhwcView = random(1, 2, 5, 3, 4).transpose(0, 3, 1, 2); // [2, 4, 5, 3] over NHWC memory
        String before = System.getProperty("rq.channels_last");
        try {
            System.clearProperty("rq.channels_last"); // default: inference
            NDArray inference = Ops.toModelLayout(nhwcView, false);
            NDArray training = Ops.toModelLayout(nhwcView, true);
            assertThat(Kernels.isChannelsLast(inference)).isTrue();
            assertThat(Kernels.isChannelsLast(training)).isFalse();
            assertThat(Kernels.isChannelsLast(Kernels.contiguous(training))).isFalse();
            assertThat(training.toFloatArray()).containsExactly(nhwcView.toFloatArray());
            assertThat(inference.toFloatArray()).containsExactly(nhwcView.toFloatArray());
            System.setProperty("rq.channels_last", "true");
            assertThat(Kernels.isChannelsLast(Ops.toModelLayout(nhwcView, true))).isTrue();
            System.setProperty("rq.channels_last", "false");
            assertThat(Kernels.isChannelsLast(Ops.toModelLayout(nhwcView, false))).isFalse();
        } finally {
            if (before == null) {
                System.clearProperty("rq.channels_last");
            } else {
                System.setProperty("rq.channels_last", before);
            }
        }
    }

    @Test
    void groupNormMatchesTheDefinitionInValueAndGradient() {
        NDArray x = random(2, 2, 64, 5, 6).mul(3f).add(1f);
        NDArray gamma = random(3, 64);
        NDArray beta = random(4, 64);
        float[] expected = referenceGroupNorm(x, 32, gamma, beta, 1e-6f).toFloatArray();
        assertClose(Kernels.groupNorm(x, 32, gamma, beta, 1e-6).toFloatArray(), expected, 1e-5);
        NDArray cl = Kernels.channelsLast(x);
        NDArray y = Kernels.groupNorm(cl, 32, gamma, beta, 1e-6);
        assertThat(Kernels.isChannelsLast(y)).isTrue();
        assertClose(y.toFloatArray(), expected, 1e-5);
        float[] g = gradient(x, t -> referenceGroupNorm(t, 32, gamma, beta, 1e-6f));
        assertClose(gradient(x, t -> Kernels.groupNorm(t, 32, gamma, beta, 1e-6)), g, 1e-4);
        assertClose(gradient(cl, t -> Kernels.groupNorm(t, 32, gamma, beta, 1e-6)), g, 1e-4);
    }

    @Test
    void siluAndFusedGroupNormSilu() {
        NDArray x = random(5, 2, 32, 4, 4);
        NDArray gamma = random(6, 32);
        NDArray beta = random(7, 32);
        Function<NDArray, NDArray> swish = t -> t.mul(t.getNDArrayInternal().sigmoid());
        assertClose(Kernels.silu(x).toFloatArray(), swish.apply(x).toFloatArray(), 1e-6);
        assertClose(gradient(x, Kernels::silu), gradient(x, swish), 1e-5);
        NDArray expected = swish.apply(referenceGroupNorm(x, 32, gamma, beta, 1e-6f));
        assertClose(Kernels.groupNormSilu(x, 32, gamma, beta, 1e-6).toFloatArray(), expected.toFloatArray(), 1e-5);
    }

    /**
     * Small bfloat16 channels-last maps without autograd take the NCHW route: the same bits as libtorch's
     * NCHW bfloat16 kernel on the NCHW copy, back in channels-last, and libtorch's float32 GroupNorm of the
     * same values rounded to bfloat16 (within one bfloat16 step, as the channels-last kernel with the
     * switch off); float32 inputs give the same bits with the switch on or off.
     */
    @Test
    void smallBfloat16ChannelsLastGroupNormTakesTheNchwKernel() {
        NDArray x32 = Kernels.toFloat32(Kernels.toBf16(random(21, 2, 64, 6, 5).mul(3f).add(1f)));
        NDArray nchw = Kernels.toBf16(x32);
        NDArray x = Kernels.channelsLast(nchw);
        NDArray gamma = random(22, 64);
        NDArray beta = random(23, 64);
        NDArray norm = referenceGroupNorm(x32, 32, gamma, beta, 1e-6f);
        float[] expectedGn = Kernels.toFloat32(Kernels.toBf16(norm)).toFloatArray();
        String before = System.getProperty("rq.kernels.small_group_norm");
        try {
            System.clearProperty("rq.kernels.small_group_norm");
            NDArray gn = Kernels.groupNorm(x, 32, gamma, beta, 1e-6);
            NDArray gnSilu = Kernels.groupNormSilu(x, 32, gamma, beta, 1e-6);
            for (NDArray y : new NDArray[] {gn, gnSilu}) {
                assertThat(Kernels.isBf16(y)).isTrue();
                assertThat(Kernels.isChannelsLast(y)).isTrue();
            }
            assertThat(Kernels.toFloat32(gn).toFloatArray())
                    .containsExactly(Kernels.toFloat32(Kernels.groupNorm(nchw, 32, gamma, beta, 1e-6)).toFloatArray());
            assertThat(Kernels.toFloat32(gnSilu).toFloatArray())
                    .containsExactly(Kernels.toFloat32(Kernels.groupNormSilu(nchw, 32, gamma, beta, 1e-6)).toFloatArray());
            assertWithinOneBf16Step(Kernels.toFloat32(gn).toFloatArray(), expectedGn);
            float[] onF32 = Kernels.groupNormSilu(Kernels.channelsLast(x32), 32, gamma, beta, 1e-6).toFloatArray();
            System.setProperty("rq.kernels.small_group_norm", "false");
            assertWithinOneBf16Step(Kernels.toFloat32(Kernels.groupNorm(x, 32, gamma, beta, 1e-6)).toFloatArray(),
                    expectedGn); // the channels-last kernel: as close (it may round a few elements the other way)
            assertThat(Kernels.groupNormSilu(Kernels.channelsLast(x32), 32, gamma, beta, 1e-6).toFloatArray())
                    .containsExactly(onF32);
        } finally {
            if (before == null) {
                System.clearProperty("rq.kernels.small_group_norm");
            } else {
                System.setProperty("rq.kernels.small_group_norm", before);
            }
        }
    }

    /** |a − e| ≤ one bfloat16 step at e (2⁻⁷ relative) for every element. */
    private static void assertWithinOneBf16Step(float[] actual, float[] expected) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < actual.length; i++) {
            assertThat((double) actual[i]).as("element %d", i)
                    .isCloseTo(expected[i], within(Math.abs(expected[i]) / 128.0 + 1e-6));
        }
    }

    @Test
    void upsampleRepeatsEachPixelTwiceInBothDirections() {
        NDArray x = random(8, 2, 3, 4, 5);
        NDArray expected = x.repeat(2, 2).repeat(3, 2);
        NDArray y = Kernels.upsampleNearest2x(x);
        assertThat(y.getShape()).isEqualTo(new Shape(2, 3, 8, 10));
        assertThat(y.toFloatArray()).containsExactly(expected.toFloatArray());
        assertThat(Kernels.isChannelsLast(Kernels.upsampleNearest2x(Kernels.channelsLast(x)))).isTrue();
        assertClose(gradient(x, Kernels::upsampleNearest2x), gradient(x, t -> t.repeat(2, 2).repeat(3, 2)), 1e-5);
    }

    @Test
    void attentionMatchesSoftmaxOfScaledScores() {
        NDArray q = random(9, 2, 3, 7, 8);
        NDArray k = random(10, 2, 3, 7, 8);
        NDArray v = random(11, 2, 3, 7, 8);
        float scale = 0.35f;
        float[] mask = new float[49];
        for (int i = 0; i < 7; i++) {
            for (int j = i + 1; j < 7; j++) {
                mask[i * 7 + j] = Float.NEGATIVE_INFINITY;
            }
        }
        NDArray causalMask = Tensors.of(m, mask, new Shape(7, 7));
        for (boolean causal : new boolean[] {false, true}) {
            Function<NDArray, NDArray> reference = qq -> {
                NDArray s = qq.matMul(k.transpose(0, 1, 3, 2)).mul(m.full(new Shape(), scale));
                return (causal ? s.add(causalMask) : s).softmax(-1).matMul(v);
            };
            assertClose(Kernels.attention(q, k, v, causal, scale).toFloatArray(), reference.apply(q).toFloatArray(),
                    1e-5);
            assertClose(gradient(q, qq -> Kernels.attention(qq, k, v, causal, scale)), gradient(q, reference), 1e-4);
        }
    }

    @Test
    void explicitAttentionMatchesTheFlashKernel() {
        NDArray q = random(12, 6, 2, 4, 8);
        NDArray k = random(13, 6, 2, 4, 8);
        NDArray v = random(14, 6, 2, 4, 8);
        float[] mask = new float[16];
        for (int i = 0; i < 4; i++) {
            for (int j = i + 1; j < 4; j++) {
                mask[i * 4 + j] = Float.NEGATIVE_INFINITY;
            }
        }
        NDArray causalMask = Tensors.of(m, mask, new Shape(4, 4));
        float[] flash = Kernels.attention(q, k, v, true, 1.0).toFloatArray();
        assertClose(Kernels.attentionExplicit(q, k, v, causalMask).toFloatArray(), flash, 1e-5);
        assertClose(gradient(q, qq -> Kernels.attentionExplicit(qq, k, v, causalMask)),
                gradient(q, qq -> Kernels.attention(qq, k, v, true, 1.0)), 1e-4);
        // bfloat16 inputs: bfloat16 scores, float32 softmax, bfloat16 output: the same ops one by one,
        // and close to float32 attention on the same (rounded) inputs
        NDArray q16 = Kernels.toBf16(q);
        NDArray k16 = Kernels.toBf16(k);
        NDArray v16 = Kernels.toBf16(v);
        NDArray y16 = Kernels.attentionExplicit(q16, k16, v16, causalMask);
        assertThat(Kernels.isBf16(y16)).isTrue();
        float[] rounded = Kernels.attention(Kernels.toFloat32(q16), Kernels.toFloat32(k16), Kernels.toFloat32(v16),
                true, 1.0).toFloatArray();
        NDArray p16 = Kernels.toFloat32(q16.matMul(k16.transpose(0, 1, 3, 2))).add(causalMask).softmax(-1);
        float[] sameOps = Kernels.toFloat32(Kernels.toBf16(p16).matMul(v16)).toFloatArray();
        assertClose(Kernels.toFloat32(y16).toFloatArray(), sameOps, 1e-6);
        assertClose(Kernels.toFloat32(y16).toFloatArray(), rounded, 0.1); // bfloat16 scores
    }

    @Test
    void squaredDistancesMatchTheThreeOperatorForm() {
        for (long[] nkc : new long[][] {{1024, 1024, 64}, {37, 512, 32}, {300, 16, 4}}) {
            for (float scale : new float[] {0.01f, 1f, 100f}) {
                NDArray x = random(nkc[0] + nkc[1], nkc[0], nkc[2]).mul(scale);
                NDArray e = random(nkc[2] + 7, nkc[1], nkc[2]).mul(scale);
                NDArray xsq = x.square().sum(new int[] {1}, true); // [N, 1]
                NDArray esq = e.square().sum(new int[] {1}).reshape(1, nkc[1]); // [1, K]
                NDArray expected = xsq.add(esq).sub(x.matMul(e.transpose()).mul(2f));
                NDArray actual = Kernels.squaredDistances(x, e);
                assertThat(actual.getShape()).isEqualTo(expected.getShape());
                // rounding differs at most by a few ulps of the norms (cancellation: relative to ‖x‖² + ‖e‖²)
                float[] a = actual.toFloatArray();
                float[] b = expected.toFloatArray();
                float[] norms = xsq.add(esq).toFloatArray();
                double worst = 0;
                for (int i = 0; i < a.length; i++) {
                    worst = Math.max(worst, Math.abs(a[i] - b[i]) / norms[i]);
                }
                assertThat(worst).as("N %d K %d C %d scale %s", nkc[0], nkc[1], nkc[2], scale).isLessThan(1e-6);
                long mismatches = 0;
                long[] ia = actual.argMin(1).toLongArray();
                long[] ib = expected.argMin(1).toLongArray();
                for (int i = 0; i < ia.length; i++) {
                    mismatches += ia[i] == ib[i] ? 0 : 1;
                }
                assertThat(mismatches).as("nearest codes, N %d", nkc[0]).isLessThanOrEqualTo(nkc[0] / 100);
            }
        }
        // bench64's quantizer shape: libtorch hands both GEMMs to MKL and the values are the same bits
        NDArray x = random(5, 1024, 64);
        NDArray e = random(6, 1024, 64);
        NDArray xsq = x.square().sum(new int[] {1}, true);
        NDArray esq = e.square().sum(new int[] {1}).reshape(1, 1024);
        float[] b = xsq.add(esq).sub(x.matMul(e.transpose()).mul(2f)).toFloatArray();
        float[] a = Kernels.squaredDistances(x, e).toFloatArray();
        int differ = 0;
        for (int i = 0; i < a.length; i++) {
            differ += Float.floatToRawIntBits(a[i]) == Float.floatToRawIntBits(b[i]) ? 0 : 1;
        }
        assertThat(differ).as("values that differ in any bit").isZero();
    }

    @Test
    void argminRowsIsTheFirstMinimumAsArgmin() {
        NDArray x = random(21, 300, 1024);
        assertThat(Kernels.argminRows(x).toLongArray()).containsExactly(x.argMin(1).toLongArray());
        // exact ties (values from a set of 3 per row): the first minimal index, as argmin
        float[] v = new float[64 * 40];
        Rng r = new Rng(4);
        for (int i = 0; i < v.length; i++) {
            v[i] = r.nextInt(3);
        }
        NDArray ties = Tensors.of(m, v, new Shape(64, 40));
        long[] expected = ties.argMin(1).toLongArray();
        for (int row = 0; row < 64; row++) {
            int first = 0;
            for (int k = 1; k < 40; k++) {
                first = v[row * 40 + k] < v[row * 40 + first] ? k : first;
            }
            assertThat(expected[row]).isEqualTo(first);
        }
        assertThat(Kernels.argminRows(ties).toLongArray()).containsExactly(expected);
    }

    @Test
    void bfloat16RoundTripRoundsToEightMantissaBits() {
        NDArray x = Tensors.of(m, new float[] {1f, 1f + 1f / 256, 3.14159f, -2.5e-3f});
        NDArray b = Kernels.toBf16(x);
        assertThat(Kernels.isBf16(b)).isTrue();
        assertThat(Kernels.toBf16(b)).isSameAs(b);
        NDArray back = Kernels.toFloat32(b);
        assertThat(back.getDataType()).isEqualTo(DataType.FLOAT32);
        float[] v = back.toFloatArray();
        assertThat(v[0]).isEqualTo(1f);
        assertThat(v[1]).isEqualTo(1f); // 1 + 2^-8 is a tie, rounded to even
        assertThat((double) v[2]).isCloseTo(3.140625, within(1e-7));
        assertThat((double) v[3]).isCloseTo(-2.5e-3, within(1e-5));
        // the gradient of a cast is the incoming gradient cast back (rounded to bfloat16 on the way)
        float[] rounded = Kernels.toFloat32(Kernels.toBf16(random(99, 4))).toFloatArray();
        assertThat(gradient(x, Kernels::toBf16)).containsExactly(rounded);
    }
}
