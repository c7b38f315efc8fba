package dev.rq.model.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.SamplingConfig;
import dev.rq.model.config.TransformerConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.kernels.BlockKernels;
import dev.rq.model.kernels.Kernels;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.nn.Tensors;
import dev.rq.model.sampling.RqSampler;
import dev.rq.model.vae.RqVae;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code model.pos_rope2d}: the 2-D rotary position encoding of the spatial stack ({@link Rope2d}). */
class RopeTest {

    private static final String ON = "model.pos_rope2d=true";

    @Test
    void scoresDependOnlyOnTheRowAndColumnOffset() {
        int lc = 1, h = 5, w = 6, e = 16, p = lc + h * w;
        float[][] t = Rope2d.tables(lc, h, w, e);
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager()) {
            java.util.Random r = new java.util.Random(3);
            float[] q0 = new float[e];
            float[] k0 = new float[e];
            for (int i = 0; i < e; i++) {
                q0[i] = (float) r.nextGaussian();
                k0[i] = (float) r.nextGaussian();
            }
            float[] qs = new float[p * e];
            float[] ks = new float[p * e];
            for (int i = 0; i < p; i++) {
                System.arraycopy(q0, 0, qs, i * e, e);
                System.arraycopy(k0, 0, ks, i * e, e);
            }
            NDArray cos = Tensors.of(m, t[0], new Shape(p, e));
            NDArray sin = Tensors.of(m, t[1], new Shape(p, e));
            float[] q = Kernels.rope(Tensors.of(m, qs, new Shape(1, 1, p, e)), cos, sin).toFloatArray();
            float[] k = Kernels.rope(Tensors.of(m, ks, new Shape(1, 1, p, e)), cos, sin).toFloatArray();
            // the condition token (position 0) is not rotated
            assertThat(Arrays.copyOfRange(q, 0, e)).containsExactly(q0);
            // (row 1, col 2) attends to (row 0, col 4); shifted by (+3, +1) and (+2, -2): the same score
            double s = score(q, k, e, pos(lc, w, 1, 2), pos(lc, w, 0, 4));
            assertThat(score(q, k, e, pos(lc, w, 4, 3), pos(lc, w, 3, 5))).isCloseTo(s, within(1e-4));
            assertThat(score(q, k, e, pos(lc, w, 3, 0), pos(lc, w, 2, 2))).isCloseTo(s, within(1e-4));
            // rows and columns are told apart: offset (0, 1) and (1, 0) score differently
            double right = score(q, k, e, pos(lc, w, 2, 2), pos(lc, w, 2, 3));
            double below = score(q, k, e, pos(lc, w, 2, 2), pos(lc, w, 3, 2));
            assertThat(Math.abs(right - below)).isGreaterThan(1e-2);
            assertThat(Math.abs(right - score(q, k, e, pos(lc, w, 2, 2), pos(lc, w, 2, 4)))).isGreaterThan(1e-2);
        }
        assertThatThrownBy(() -> Rope2d.tables(1, 2, 2, 6)).isInstanceOf(IllegalArgumentException.class);
    }

    private static int pos(int lc, int w, int row, int col) {
        return lc + row * w + col;
    }

    private static double score(float[] q, float[] k, int e, int i, int j) {
        double s = 0;
        for (int c = 0; c < e; c++) {
            s += (double) q[i * e + c] * k[j * e + c];
        }
        return s;
    }

    @Test
    void offByDefaultNoNewWeightsAndBadValuesNameTheKey() throws Exception {
        TransformerConfig off = Stage2.load("tiny", List.of()).config().model();
        TransformerConfig on = Stage2.load("tiny", List.of(ON)).config().model();
        assertThat(off.posRope2d()).isFalse();
        assertThat(on.posRope2d()).isTrue();
        var a = RqTransformer.declaredShapes(off);
        var b = RqTransformer.declaredShapes(on);
        assertThat(b.keySet()).containsExactlyElementsOf(a.keySet());
        a.forEach((k, s) -> assertThat(b.get(k)).as(k).containsExactly(s));
        assertThatThrownBy(() -> Stage2.load("tiny", List.of("model.pos_rope2d=maybe")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.pos_rope2d");
        assertThatThrownBy(() -> Stage2.load("tiny", List.of(ON, "model.embed_dim=36", "model.body.block.n_head=2",
                "model.head.block.n_head=2")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.pos_rope2d:")
                .hasMessageContaining("divisible by 4");
    }

    @Test
    void cachedSamplingEqualsUncachedFullForwardAndRopeChangesTheModel() throws Exception {
        Stage2.Run run = Stage2.load("tiny", List.of(ON));
        Stage2.Run off = Stage2.load("tiny", List.of());
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(run.vae(), m, 3);
                RqTransformer model = RqTransformer.create(run.config().model(), m, 4);
                RqTransformer plain = RqTransformer.create(off.config().model(), m, 4)) {
            RqSampler sampler = new RqSampler(model, vae);
            long[] cond = {1, 7, 3};
            SamplingConfig s = SamplingConfig.of(2.0, 8, 0.9);
            long[] a = sampler.sample(cond, s, RqSampler.rowGenerators(11, 0, 3), true);
            long[] b = sampler.sample(cond, s, RqSampler.rowGenerators(11, 0, 3), false);
            assertThat(a).as("cached vs uncached").containsExactly(b);
            assertThat(Arrays.stream(a).distinct().count()).isGreaterThan(5);
            // the same weights without rotation draw other codes
            long[] c = new RqSampler(plain, vae).sample(cond, s, RqSampler.rowGenerators(11, 0, 3), true);
            assertThat(c).isNotEqualTo(a);
            // logits: the teacher-forcing forward of the drawn codes vs the cached body + depth calls
            NDArray codes = sampler.toTensor(m, a);
            NDArray condT = Tensors.of(m, cond);
            float[] full = model.forward(vae, codes, condT, null).logits().toFloatArray();
            float[] fullPlain = plain.forward(vae, codes, condT, null).logits().toFloatArray();
            assertThat(fullPlain).isNotEqualTo(full);
        }
    }

    @Test
    void guidedSamplingIsCachedExact() throws Exception {
        Stage2.Run run = Stage2.load("tiny", List.of(ON, "model.cond_drop_prob=0.1"));
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(run.vae(), m, 3);
                RqTransformer model = RqTransformer.create(run.config().model(), m, 4)) {
            RqSampler sampler = new RqSampler(model, vae);
            long[] cond = {1, 7, 3};
            SamplingConfig guided = SamplingConfig.of(2.0, 8, 0.9).withCfgScale(3.0);
            long[] a = sampler.sample(cond, guided, RqSampler.rowGenerators(11, 0, 3), true);
            long[] b = sampler.sample(cond, guided, RqSampler.rowGenerators(11, 0, 3), false);
            assertThat(a).as("guided: cached vs uncached").containsExactly(b);
            long[] second = sampler.sample(new long[] {7}, guided, RqSampler.rowGenerators(11, 1, 1), true);
            int per = 8 * 8 * 4;
            assertThat(second).containsExactly(Arrays.copyOfRange(a, per, 2 * per));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"fp32", "bf16"})
    void oneCallStepMatchesTheBlockPathAndTheFullForward(String precision) throws Exception {
        boolean bf16 = precision.equals("bf16");
        if (bf16 && !Precision.cpuHasBf16()) {
            String why = "this CPU has no bfloat16 units: the bf16 case is not run";
            System.out.println("RopeTest: " + why);
            Assumptions.abort(why);
        }
        Stage2.Run run = Stage2.load("tiny", List.of(ON));
        Engines.pytorch(1);
        int d = run.config().model().embedDim();
        try (NDManager m = Engines.newManager(); RqTransformer model = RqTransformer.create(run.config().model(), m, 4)) {
            if (bf16) {
                model.setPrecision(Precision.BF16);
            }
            NDArray x = m.randomNormal(new Shape(3, 8, d));
            try (ParamStore.Frozen f = model.params().freeze(); KvCache fused = new KvCache(2, 8);
                    KvCache blocks = new KvCache(2, 8)) {
                System.setProperty("rq.sample.step_attention", "flash");
                float[] whole = model.bodyForward(x, null).toFloatArray(); // uncached, one call per block
                double num = 0;
                double den = 0;
                double numFull = 0;
                for (int p = 0; p < 8; p++) {
                    NDArray xp = x.get(":, " + p + ":" + (p + 1) + ", :");
                    float[] a = model.bodyForward(xp, fused).toFloatArray();
                    System.setProperty("rq.sample.fused_step", "false");
                    float[] b = model.bodyForward(xp, blocks).toFloatArray();
                    System.clearProperty("rq.sample.fused_step");
                    assertThat(fused.steppedInOneCall()).isTrue();
                    if (!bf16) {
                        assertThat(a).as("position %d", p).containsExactly(b);
                    }
                    for (int i = 0; i < a.length; i++) {
                        int n = i / d;
                        float full = whole[(n * 8 + p) * d + i % d];
                        num += (a[i] - b[i]) * (a[i] - b[i]);
                        numFull += (a[i] - full) * (a[i] - full);
                        den += b[i] * b[i];
                    }
                }
                double tol = bf16 ? 1e-2 : 1e-5;
                assertThat(Math.sqrt(num / den)).isLessThan(tol);
                assertThat(Math.sqrt(numFull / den)).as("cached vs uncached").isLessThan(tol);
            } finally {
                System.clearProperty("rq.sample.step_attention");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"fp32", "bf16"})
    void oneCallBlockTrainsBitIdenticallyToTheDjlCalls(String precision) throws Exception {
        if (precision.equals("bf16") && !Precision.cpuHasBf16()) {
            String why = "this CPU has no bfloat16 units: the bf16 case is not run";
            System.out.println("RopeTest: " + why);
            Assumptions.abort(why);
        }
        Stage2.Run run = Stage2.load("tiny", List.of(ON, "train.batch_size=4", "train.precision=" + precision,
                "loss.type=cross_entropy", "model.body.block.resid_pdrop=0.0", "model.head.block.resid_pdrop=0.0"));
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(run.vae(), m, 1);
                RqTransformer fused = RqTransformer.create(run.config().model(), m, 2);
                RqTransformer djl = RqTransformer.create(run.config().model(), m, 2)) {
            NDArray codes = Tensors.of(m, TransformerTrainerTest.randomCodes(4 * 256, 32, 9)).reshape(4, 8, 8, 4);
            var batch = List.of(TransformerTrainer.MicroBatch.ofCodes(codes, new long[] {0, 3, 5, 9}));
            TransformerTrainer a = new TransformerTrainer(fused, vae, run.config(), Collective.local());
            TransformerTrainer b = new TransformerTrainer(djl, vae, run.config(), Collective.local());
            long calls = BlockKernels.calls();
            List<Double> la = new ArrayList<>();
            List<Double> lb = new ArrayList<>();
            try {
                for (int s = 0; s < 3; s++) {
                    System.clearProperty("rq.kernels.fused_block");
                    la.add(a.step(batch).loss());
                    System.setProperty("rq.kernels.fused_block", "false");
                    lb.add(b.step(batch).loss());
                }
            } finally {
                System.clearProperty("rq.kernels.fused_block");
            }
            assertThat(BlockKernels.calls() - calls).isEqualTo(3 * 3);
            assertThat(la).containsExactlyElementsOf(lb);
            for (String k : fused.params().keys()) {
                assertThat(fused.params().get(k).toFloatArray()).as(k).containsExactly(djl.params().get(k).toFloatArray());
            }
        }
    }
}
