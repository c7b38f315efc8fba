package dev.rq.model.transformer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.nn.ParamStore;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The one-call incremental step of a cached stack ({@code Kernels.cachedStackStep}) against the
 * block-by-block DJL path: bit-identical with the flash attention of the block path, within float
 * rounding with its default explicit float32 attention; the caches it writes are those the block
 * path writes.
 */
class CachedStepTest {

    @Test
    void oneCallStepMatchesTheBlockByBlockPath() throws Exception {
        Stage2.Run run = Stage2.load("tiny", List.of());
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager(); RqTransformer model = RqTransformer.create(run.config().model(), m, 4)) {
            int d = run.config().model().embedDim();
            for (String attention : new String[] {"flash", "explicit"}) {
                float worst = 0;
                try (ParamStore.Frozen f = model.params().freeze(); KvCache fused = new KvCache(2, 8);
                        KvCache blocks = new KvCache(2, 8)) {
                    for (int p = 0; p < 6; p++) {
                        NDArray x = m.randomNormal(new Shape(3, 1, d));
                        System.setProperty("rq.sample.step_attention", attention);
                        float[] a = model.bodyForward(x, fused).toFloatArray();
                        System.setProperty("rq.sample.fused_step", "false");
                        float[] b = model.bodyForward(x, blocks).toFloatArray();
                        System.clearProperty("rq.sample.fused_step");
                        assertThat(fused.length()).isEqualTo(blocks.length()).isEqualTo(p + 1);
                        assertThat(fused.steppedInOneCall()).isTrue();
                        assertThat(blocks.steppedInOneCall()).isFalse();
                        if (attention.equals("flash")) {
                            assertThat(a).as("position %d", p).containsExactly(b);
                        }
                        for (int i = 0; i < a.length; i++) {
                            worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
                        }
                    }
                } finally {
                    System.clearProperty("rq.sample.step_attention");
                }
                assertThat(worst).as(attention).isLessThan(1e-5f);
            }
        }
    }

    @Test
    void oneCallDepthStepEqualsTokenHeadAndClassifierCalls() throws Exception {
        Stage2.Run run = Stage2.load("tiny", List.of());
        Engines.pytorch(1);
        var mc = run.config().model();
        try (NDManager m = Engines.newManager(); RqTransformer model = RqTransformer.create(mc, m, 4);
                ParamStore.Frozen f = model.params().freeze(); KvCache fused = new KvCache(mc.head().nLayer(), mc.depth());
                KvCache separate = new KvCache(mc.head().nLayer(), mc.depth())) {
            NDArray ctx = m.randomNormal(new Shape(3, mc.embedDim()));
            for (int position = 0; position < 2; position++) {
                fused.reset();
                separate.reset();
                for (int d = 0; d < mc.depth(); d++) {
                    NDArray partial = m.randomNormal(new Shape(3, mc.inputEmbedDim()));
                    float[] a = model.depthLogits(ctx, partial, d, fused).toFloatArray();
                    System.setProperty("rq.sample.fused_depth", "false");
                    float[] b = model.depthLogits(ctx, partial, d, separate).toFloatArray();
                    System.clearProperty("rq.sample.fused_depth");
                    assertThat(a).as("position %d depth %d", position, d).hasSize(3 * mc.maxVocab()).containsExactly(b);
                }
            }
        }
    }

    @Test
    void bf16StepStaysCloseToTheBlockPath() throws Exception {
        if (!Precision.cpuHasBf16()) {
            String why = "this CPU has no bfloat16 units (AVX512-BF16, AMX or ARM BF16): bf16 test skipped";
            System.out.println("CachedStepTest: " + why);
            Assumptions.abort(why);
        }
        Stage2.Run run = Stage2.load("tiny", List.of());
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager(); RqTransformer model = RqTransformer.create(run.config().model(), m, 4)) {
            model.setPrecision(Precision.BF16);
            int d = run.config().model().embedDim();
            try (ParamStore.Frozen f = model.params().freeze(); KvCache fused = new KvCache(2, 8);
                    KvCache blocks = new KvCache(2, 8)) {
                double num = 0;
                double den = 0;
                for (int p = 0; p < 6; p++) {
                    NDArray x = m.randomNormal(new Shape(3, 1, d));
                    float[] a = model.bodyForward(x, fused).toFloatArray();
                    System.setProperty("rq.sample.fused_step", "false");
                    float[] b = model.bodyForward(x, blocks).toFloatArray();
                    System.clearProperty("rq.sample.fused_step");
                    for (int i = 0; i < a.length; i++) {
                        num += (a[i] - b[i]) * (a[i] - b[i]);
                        den += b[i] * b[i];
                    }
                }
                assertThat(Math.sqrt(num / den)).isLessThan(1e-2);
            }
        }
    }
}
