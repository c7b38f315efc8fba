package dev.rq.model.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.Repo;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.nn.Tensors;
import dev.rq.model.util.SyntheticImages;
import dev.rq.model.vae.RqVae;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Two replicas trained in lockstep on the same batches must stay bit-identical, step after step,
 * under allocation and GC pressure. This caught a use-after-free: DJL's {@code mul(Number)}
 * frees the scalar tensor that autograd saved for the backward pass, so after a GC the gradient
 * occasionally read garbage (a few percent of 16-step runs diverged, some to NaN).
 */
class DeterminismTest {

    @Test
    void lockstepReplicasStayBitIdenticalUnderGcPressure() throws Exception {
        RqVaeRunConfig c = Configs.loadRqVae(Repo.conf("rqvae/tiny.yaml"), List.of());
        Engines.pytorch(1);
        for (int rep = 0; rep < 3; rep++) {
            try (NDManager m = Engines.newManager();
                    RqVae a = RqVae.create(c.model(), m, rep);
                    RqVae b = RqVae.create(c.model(), m, rep)) {
                VaeTrainer ta = new VaeTrainer(a, c.train(), Collective.local());
                VaeTrainer tb = new VaeTrainer(b, c.train(), Collective.local());
                for (int s = 0; s < 12; s++) {
                    try (NDManager sm = m.newSubManager()) {
                        NDArray x = Tensors.of(sm, SyntheticImages.batch(8, 16, 100 * rep + s), new Shape(8, 3, 16, 16));
                        VaeStepMetrics ra = ta.step(List.of(x));
                        byte[][] pressure = new byte[64][];
                        for (int i = 0; i < pressure.length; i++) {
                            pressure[i] = new byte[1 << 20];
                        }
                        System.gc();
                        VaeStepMetrics rb = tb.step(List.of(x));
                        assertThat(rb.gradNorm()).as("rep %d step %d gradient norm", rep, s).isEqualTo(ra.gradNorm());
                        for (String k : a.params().keys()) {
                            assertThat(b.params().get(k).toFloatArray()).as("rep %d step %d %s", rep, s, k)
                                    .containsExactly(a.params().get(k).toFloatArray());
                        }
                    }
                }
            }
        }
    }
}
