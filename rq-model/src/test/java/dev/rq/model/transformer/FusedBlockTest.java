package dev.rq.model.transformer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.kernels.BlockKernels;
import dev.rq.model.nn.Tensors;
import dev.rq.model.vae.RqVae;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A transformer block of a training pass as one TorchScript call ({@code BlockKernels.trainBlock},
 * {@code -Drq.kernels.fused_block}) against the DJL calls it replaces: the same losses and the same
 * weights after three AdamW steps, bit for bit, with residual dropout on (the masks drawn in the same
 * order), for the explicit attention (sequences up to 64) and libtorch's flash kernel (longer ones,
 * forced here by {@code rq.attention.explicit_max_len=0}), in float32 and bfloat16.
 */
class FusedBlockTest {

    @ParameterizedTest
    @CsvSource({"fp32, 64", "fp32, 0", "bf16, 64", "bf16, 0"})
    void oneCallBlockTrainsBitIdenticallyToTheDjlCalls(String precision, String explicitMaxLen) throws Exception {
        if (precision.equals("bf16") && !Precision.cpuHasBf16()) {
            String why = "this CPU has no bfloat16 units: the bf16 case is not run";
            System.out.println("FusedBlockTest: " + why);
            Assumptions.abort(why);
        }
        Stage2.Run run = Stage2.load("tiny", List.of("train.batch_size=4", "train.precision=" + precision,
                "loss.type=cross_entropy"));
        assertThat(run.config().model().body().block().residPdrop()).isPositive();
        Engines.pytorch(1);
        System.setProperty("rq.attention.explicit_max_len", explicitMaxLen);
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(run.vae(), m, 1);
                RqTransformer fused = RqTransformer.create(run.config().model(), m, 2);
                RqTransformer djl = RqTransformer.create(run.config().model(), m, 2)) {
            NDArray codes = Tensors.of(m, TransformerTrainerTest.randomCodes(4 * 256, 32, 9)).reshape(4, 8, 8, 4);
            long[] labels = {0, 3, 5, 9};
            var batch = List.of(TransformerTrainer.MicroBatch.ofCodes(codes, labels));
            TransformerTrainer a = new TransformerTrainer(fused, vae, run.config(), Collective.local());
            TransformerTrainer b = new TransformerTrainer(djl, vae, run.config(), Collective.local());
            long calls = BlockKernels.calls();
            List<Double> la = new ArrayList<>();
            List<Double> lb = new ArrayList<>();
            for (int s = 0; s < 3; s++) {
                System.setProperty("rq.kernels.fused_block", "always"); // tiny has dropout
                la.add(a.step(batch).loss());
                System.setProperty("rq.kernels.fused_block", "false");
                lb.add(b.step(batch).loss());
            }
            // 2 body blocks + 1 head block per step, each forward once (the path did run)
            assertThat(BlockKernels.calls() - calls).isEqualTo(3 * 3);
            assertThat(la).containsExactlyElementsOf(lb);
            for (String k : fused.params().keys()) {
                assertThat(fused.params().get(k).toFloatArray()).as(k).containsExactly(djl.params().get(k).toFloatArray());
            }
        } finally {
            System.clearProperty("rq.kernels.fused_block");
            System.clearProperty("rq.attention.explicit_max_len");
        }
    }

    @Test
    void byDefaultOnlyBlocksWithoutDropoutRunInOneCall() throws Exception {
        Engines.pytorch(1);
        for (String pdrop : new String[] {"0.0", "0.1"}) {
            Stage2.Run run = Stage2.load("tiny", List.of("train.batch_size=2", "loss.type=cross_entropy",
                    "model.body.block.resid_pdrop=" + pdrop, "model.head.block.resid_pdrop=" + pdrop));
            try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(run.vae(), m, 1);
                    RqTransformer model = RqTransformer.create(run.config().model(), m, 2)) {
                NDArray codes = Tensors.of(m, TransformerTrainerTest.randomCodes(2 * 256, 32, 9)).reshape(2, 8, 8, 4);
                TransformerTrainer t = new TransformerTrainer(model, vae, run.config(), Collective.local());
                long calls = BlockKernels.calls();
                t.step(List.of(TransformerTrainer.MicroBatch.ofCodes(codes, new long[] {1, 2})));
                assertThat(BlockKernels.calls() - calls).as("resid_pdrop %s", pdrop).isEqualTo(pdrop.equals("0.0") ? 3 : 0);
            }
        }
    }
}
