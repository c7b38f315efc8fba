package dev.rq.model.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.Repo;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.SamplingConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.kernels.Kernels;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.nn.Tensors;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.sampling.RqSampler;
import dev.rq.model.train.VaeStepMetrics;
import dev.rq.model.train.VaeTrainer;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.transformer.Stage2;
import dev.rq.model.transformer.TransformerStepMetrics;
import dev.rq.model.transformer.TransformerTrainer;
import dev.rq.model.util.Rng;
import dev.rq.model.util.SyntheticImages;
import dev.rq.model.vae.RqVae;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * bfloat16 compute against float32 on the small test models: the bf16 path really runs in
 * bfloat16 (results differ from float32), stays close to float32, keeps weights and optimizer
 * state in float32, and trains as float32 does. Skipped, with the reason printed, on CPUs
 * without bfloat16 units.
 */
class PrecisionTest {

    @BeforeAll
    static void engine() {
        Engines.pytorch(1);
    }

    private static void requireBf16() {
        if (!Precision.cpuHasBf16()) {
            String why = "this CPU has no bfloat16 units (AVX512-BF16, AMX or ARM BF16): bf16 tests skipped";
            System.out.println("PrecisionTest: " + why);
            Assumptions.abort(why);
        }
    }

    @Test
    void parsesAndValidatesTheConfigKey() throws Exception {
        assertThat(Precision.parse("BF16")).isEqualTo(Precision.BF16);
        assertThat(Precision.parse(" fp32")).isEqualTo(Precision.FP32);
        assertThatThrownBy(() -> Precision.parse("fp16")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("fp32, bf16").hasMessageContaining("'fp16'");
        RqVaeRunConfig c = Configs.loadRqVae(Repo.conf("rqvae/tiny.yaml"), List.of("train.precision=BF16"));
        assertThat(c.train().precision()).isEqualTo("bf16");
        assertThat(Configs.loadRqVae(Repo.conf("rqvae/tiny.yaml"), List.of()).train().computePrecision())
                .isEqualTo(Precision.FP32);
        assertThatThrownBy(() -> Configs.loadRqVae(Repo.conf("rqvae/tiny.yaml"), List.of("train.precision=half")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("train.precision: ");
    }

    @Test
    void bf16IsRejectedOnACpuWithoutBf16Units() {
        if (Precision.cpuHasBf16()) {
            Precision.BF16.requireSupportedOnCpu(); // no exception here
            Precision.FP32.requireSupportedOnCpu();
            return;
        }
        assertThatThrownBy(Precision.BF16::requireSupportedOnCpu).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--precision fp32");
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

    private static double agreement(long[] a, long[] b) {
        int same = 0;
        for (int i = 0; i < a.length; i++) {
            same += a[i] == b[i] ? 1 : 0;
        }
        return same / (double) a.length;
    }

    @Test
    void vaeInferenceInBf16IsCloseToFp32() throws Exception {
        requireBf16();
        RqVaeRunConfig c = Configs.loadRqVae(Repo.conf("rqvae/tiny.yaml"), List.of());
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(c.model(), m, 3)) {
            NDArray x = Tensors.of(m, SyntheticImages.batch(8, 16, 5), new Shape(8, 3, 16, 16));
            float[] z32 = vae.encode(x, false).toFloatArray();
            long[] codes32 = vae.codes(x).toLongArray();
            float[] rec32 = vae.decodeCodes(vae.codes(x)).toFloatArray();
            vae.setPrecision(Precision.BF16);
            NDArray ze = vae.encode(x, false);
            assertThat(ze.getDataType()).isEqualTo(DataType.FLOAT32); // the quantizer gets float32
            float[] z16 = ze.toFloatArray();
            long[] codes16 = vae.codes(x).toLongArray();
            NDArray rec = vae.decodeCodes(vae.codes(x));
            assertThat(rec.getDataType()).isEqualTo(DataType.FLOAT32);
            float[] rec16 = vae.decodeCodes(Tensors.of(m, codes32).reshape(8, 8, 8, 4)).toFloatArray();
            double zErr = relativeError(z16, z32);
            double recErr = relativeError(rec16, rec32);
            double agree = agreement(codes16, codes32);
            System.out.printf("bf16 vs fp32 (tiny VAE): latent rel. error %.2e, reconstruction rel. error %.2e,"
                    + " code agreement %.3f%n", zErr, recErr, agree);
            assertThat(zErr).as("bf16 really computes in bfloat16").isGreaterThan(1e-4).isLessThan(5e-2);
            assertThat(recErr).isGreaterThan(1e-4).isLessThan(5e-2);
            assertThat(agree).isGreaterThan(0.95);
            for (String k : vae.params().keys()) {
                assertThat(vae.params().get(k).getDataType()).as(k).isEqualTo(DataType.FLOAT32);
            }
        }
    }

    @Test
    void vaeTrainingInBf16TracksFp32() throws Exception {
        requireBf16();
        RqVaeRunConfig c32 = Configs.loadRqVae(Repo.conf("rqvae/tiny.yaml"), List.of());
        RqVaeRunConfig c16 = Configs.loadRqVae(Repo.conf("rqvae/tiny.yaml"), List.of("train.precision=bf16"));
        try (NDManager m = Engines.newManager(); RqVae a = RqVae.create(c32.model(), m, 4);
                RqVae b = RqVae.create(c16.model(), m, 4)) {
            VaeTrainer ta = new VaeTrainer(a, c32.train(), Collective.local());
            VaeTrainer tb = new VaeTrainer(b, c16.train(), Collective.local());
            assertThat(b.precision()).isEqualTo(Precision.BF16);
            VaeStepMetrics ra = null;
            VaeStepMetrics rb = null;
            double firstA = 0;
            for (int s = 0; s < 30; s++) {
                try (NDManager sm = m.newSubManager()) {
                    NDArray x = Tensors.of(sm, SyntheticImages.batch(8, 16, 200 + s), new Shape(8, 3, 16, 16));
                    ra = ta.step(List.of(x));
                    rb = tb.step(List.of(x));
                    firstA = s == 0 ? ra.loss() : firstA;
                }
            }
            System.out.printf("30 steps (tiny VAE): loss fp32 %.4f -> %.4f, bf16 %.4f%n", firstA, ra.loss(), rb.loss());
            assertThat(ra.loss()).isLessThan(firstA * 0.7); // it trains
            assertThat(Math.abs(rb.loss() - ra.loss()) / ra.loss()).isLessThan(0.1);
            assertThat(rb.loss()).isNotEqualTo(ra.loss());
            for (String k : b.params().keys()) {
                assertThat(b.params().get(k).getDataType()).as(k).isEqualTo(DataType.FLOAT32);
            }
            tb.optimizerState().forEach((k, t) -> assertThat(t.dtype()).as(k).isEqualTo(HostTensor.Dtype.F32));
        }
    }

    @Test
    void transformerTrainsAndSamplesInBf16() throws Exception {
        requireBf16();
        Stage2.Run r32 = Stage2.load("tiny", List.of("train.batch_size=4", "train.lr=3.0e-3", "train.warmup_steps=0"));
        Stage2.Run r16 = Stage2.load("tiny", List.of("train.batch_size=4", "train.lr=3.0e-3", "train.warmup_steps=0",
                "train.precision=bf16"));
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(r32.vae(), m, 1);
                RqTransformer a = RqTransformer.create(r32.config().model(), m, 2);
                RqTransformer b = RqTransformer.create(r16.config().model(), m, 2)) {
            Rng rng = new Rng(9);
            long[] c = new long[4 * 256];
            for (int i = 0; i < c.length; i++) {
                c[i] = rng.nextInt(32);
            }
            NDArray codes = Tensors.of(m, c).reshape(4, 8, 8, 4);
            long[] labels = {0, 3, 5, 9};
            float[] l32 = a.forward(vae, codes, Tensors.of(m, labels), null).logits().toFloatArray();
            b.setPrecision(Precision.BF16);
            NDArray logits = b.forward(vae, codes, Tensors.of(m, labels), null).logits();
            assertThat(logits.getDataType()).isEqualTo(DataType.FLOAT32);
            double err = relativeError(logits.toFloatArray(), l32);
            System.out.printf("bf16 vs fp32 (tiny transformer): logits rel. error %.2e%n", err);
            assertThat(err).isGreaterThan(1e-5).isLessThan(3e-2);

            TransformerTrainer ta = new TransformerTrainer(a, vae, r32.config(), Collective.local());
            TransformerTrainer tb = new TransformerTrainer(b, vae, r16.config(), Collective.local());
            var batch = List.of(TransformerTrainer.MicroBatch.ofCodes(codes, labels));
            TransformerStepMetrics first = tb.step(batch);
            ta.step(batch);
            TransformerStepMetrics la = null;
            TransformerStepMetrics lb = null;
            for (int i = 0; i < 40; i++) {
                la = ta.step(batch);
                lb = tb.step(batch);
            }
            System.out.printf("41 steps (tiny transformer): loss fp32 %.4f, bf16 %.4f -> %.4f%n", la.loss(),
                    first.loss(), lb.loss());
            assertThat(lb.loss()).isLessThan(first.loss() * 0.8); // it trains
            assertThat(Math.abs(lb.loss() - la.loss()) / la.loss()).isLessThan(0.1);

            RqSampler sampler = new RqSampler(b, vae);
            long[] out = sampler.sample(labels, SamplingConfig.of(1.0, 8, 0.95), RqSampler.rowGenerators(7, 0, 4), true);
            assertThat(out).hasSize(4 * 256);
            assertThat(java.util.Arrays.stream(out).allMatch(v -> v >= 0 && v < 32)).isTrue();
        }
    }

    @Test
    void aFrozenStoreCastsEachWeightOnce() {
        requireBf16();
        try (NDManager m = Engines.newManager(); ParamStore ps = new ParamStore(m)) {
            ps.declare("w", new long[] {4, 8}, ParamStore.Init.FAN_IN_UNIFORM, 8, true);
            ps.initialize(new Rng(3));
            ps.setPrecision(Precision.BF16);
            assertThat(ps.compute("w")).isNotSameAs(ps.compute("w")); // one cast per call
            NDArray held;
            try (ParamStore.Frozen outer = ps.freeze()) {
                held = ps.compute("w");
                assertThat(Kernels.isBf16(held)).isTrue();
                try (ParamStore.Frozen inner = ps.freeze()) {
                    assertThat(ps.compute("w")).isSameAs(held);
                }
                assertThat(held.isReleased()).as("nested scope closed, outer still open").isFalse();
                assertThat(ps.compute("w")).isSameAs(held);
                float[] v = new float[32];
                java.util.Arrays.fill(v, 0.5f);
                ps.set("w", Tensors.of(m, v, new Shape(4, 8))); // a new value drops its cast
                assertThat(held.isReleased()).isTrue();
                held = ps.compute("w");
                assertThat(Kernels.toFloat32(held).toFloatArray()).containsOnly(0.5f);
            }
            assertThat(held.isReleased()).as("released with the last scope").isTrue();
            assertThat(ps.compute("w")).isNotSameAs(ps.compute("w"));
            assertThat(ps.get("w").getDataType()).isEqualTo(DataType.FLOAT32);
        }
    }

    @Test
    void heldCastsOutliveEachFreezeUntilTheHoldCloses() throws Exception {
        requireBf16();
        try (NDManager m = Engines.newManager(); ParamStore ps = new ParamStore(m)) {
            ps.declare("w", new long[] {4, 8}, ParamStore.Init.FAN_IN_UNIFORM, 8, true);
            ps.initialize(new Rng(3));
            ps.setPrecision(Precision.BF16);
            NDArray first;
            try (ParamStore.Frozen hold = ps.holdFrozenCasts()) {
                assertThat(ps.compute("w")).as("a hold alone does not reuse casts").isNotSameAs(ps.compute("w"));
                try (ParamStore.Frozen call = ps.freeze()) {
                    first = ps.compute("w");
                }
                assertThat(first.isReleased()).as("kept by the hold").isFalse();
                try (ParamStore.Frozen call = ps.freeze()) {
                    assertThat(ps.compute("w")).as("the next call reuses the cast").isSameAs(first);
                }
                NDArray[] seen = new NDArray[1];
                Thread other = new Thread(() -> { // another thread (a tokenize lane) reuses it too
                    try (ParamStore.Frozen call = ps.freeze()) {
                        seen[0] = ps.compute("w");
                    }
                });
                other.start();
                other.join();
                assertThat(seen[0]).isSameAs(first);
            }
            assertThat(first.isReleased()).as("released when the hold closes").isTrue();
        }
    }
}
