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
import dev.rq.model.kernels.Kernels;
import dev.rq.model.nn.Tensors;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.util.SyntheticImages;
import dev.rq.model.vae.RqVae;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A float32 VAE run saved after k steps, loaded into a fresh model and optimizer (as a new process
 * does from a checkpoint) and continued must stay bit-identical to the uninterrupted run — in
 * whatever memory formats and kernels the float32 model uses ({@link Kernels#fp32Kernels}).
 */
class VaeResumeTest {

    @Test
    void resumedRunStaysBitIdenticalToTheUninterruptedOne() throws Exception {
        RqVaeRunConfig c = Configs.loadRqVae(Repo.conf("rqvae/tiny.yaml"), List.of("train.batch_size=4"));
        int res = c.model().ddconfig().resolution();
        Engines.pytorch(1);
        System.out.println("VaeResumeTest: fp32 fused kernels " + Kernels.fp32Kernels());
        try (NDManager m = Engines.newManager(); RqVae a = RqVae.create(c.model(), m, 11)) {
            VaeTrainer ta = new VaeTrainer(a, c.train(), Collective.local());
            for (int s = 0; s < 3; s++) {
                ta.step(List.of(batch(m, s, res)));
            }
            Map<String, HostTensor> vae = a.stateDict();
            Map<String, HostTensor> opt = GanTrainerTest.host(ta.optimizerState());
            long rng = ta.rngState();
            double[][] ref = new double[3][];
            for (int s = 3; s < 6; s++) {
                VaeStepMetrics r = ta.step(List.of(batch(m, s, res)));
                ref[s - 3] = new double[] {r.loss(), r.gradNorm()};
            }
            Map<String, byte[]> x = state(a, ta);
            // a new process compiles every libtorch function anew and keeps no cached state
            freshKernels();
            try (RqVae b = RqVae.fromStateDict(c.model(), vae, m)) {
                VaeTrainer tb = new VaeTrainer(b, c.train(), Collective.local());
                tb.restore(opt, 3, rng);
                for (int s = 3; s < 6; s++) {
                    VaeStepMetrics rb = tb.step(List.of(batch(m, s, res)));
                    assertThat(rb.loss()).as("step %d loss", s + 1).isEqualTo(ref[s - 3][0]);
                    assertThat(rb.gradNorm()).as("step %d gradient norm", s + 1).isEqualTo(ref[s - 3][1]);
                }
                Map<String, byte[]> y = state(b, tb);
                assertThat(y.keySet()).isEqualTo(x.keySet());
                for (String k : x.keySet()) {
                    assertThat(y.get(k)).as("%s after resume", k).isEqualTo(x.get(k));
                }
            }
        }
    }

    /** Forgets the compiled libtorch functions of {@link Kernels}, as a new process starts without them. */
    static void freshKernels() throws ReflectiveOperationException {
        java.lang.reflect.Field f = Kernels.class.getDeclaredField("FUNCTIONS");
        f.setAccessible(true);
        ((Map<?, ?>) f.get(null)).clear();
    }

    /**
     * Two replicas in lockstep, the native heap filled with different garbage before each one's
     * step: a kernel that reads memory it never wrote gives results that depend on what ran before
     * in the process, which a resumed process cannot reproduce.
     */
    @Test
    void lockstepReplicasDoNotDependOnStaleNativeMemory() throws Exception {
        RqVaeRunConfig c = Configs.loadRqVae(Repo.conf("rqvae/tiny.yaml"), List.of("train.batch_size=4"));
        int res = c.model().ddconfig().resolution();
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager(); RqVae a = RqVae.create(c.model(), m, 5);
                RqVae b = RqVae.create(c.model(), m, 5)) {
            VaeTrainer ta = new VaeTrainer(a, c.train(), Collective.local());
            VaeTrainer tb = new VaeTrainer(b, c.train(), Collective.local());
            for (int s = 0; s < 4; s++) {
                poison(m, 1000 + s);
                VaeStepMetrics ra = ta.step(List.of(batch(m, s, res)));
                poison(m, 2000 + s);
                VaeStepMetrics rb = tb.step(List.of(batch(m, s, res)));
                assertThat(rb.loss()).as("step %d loss", s + 1).isEqualTo(ra.loss());
                assertThat(rb.gradNorm()).as("step %d gradient norm", s + 1).isEqualTo(ra.gradNorm());
                Map<String, byte[]> x = state(a, ta);
                Map<String, byte[]> y = state(b, tb);
                for (String k : x.keySet()) {
                    assertThat(y.get(k)).as("step %d %s", s + 1, k).isEqualTo(x.get(k));
                }
            }
        }
    }

    /** Allocates, fills with pseudo-random values and frees native tensors of many sizes. */
    static void poison(NDManager m, int seed) {
        java.util.Random r = new java.util.Random(seed);
        try (NDManager p = m.newSubManager()) {
            for (int i = 0; i < 400; i++) {
                int n = 16 + r.nextInt(1 << (6 + i % 14));
                float[] v = new float[n];
                for (int j = 0; j < n; j++) {
                    v[j] = (float) r.nextGaussian() * 100;
                }
                NDArray h = p.create(v);
                NDArray t = h.add(h); // in libtorch's allocator, as activations are
                h.close();
                if (i % 3 == 0) {
                    t.close();
                }
            }
        }
    }

    static NDArray batch(NDManager m, int seed, int res) {
        return Tensors.of(m, SyntheticImages.batch(4, res, 40 + seed), new Shape(4, 3, res, res));
    }

    static Map<String, byte[]> state(RqVae v, VaeTrainer t) throws java.io.IOException {
        Map<String, byte[]> out = new LinkedHashMap<>();
        v.stateDict().forEach((k, h) -> out.put("vae." + k, h.data()));
        GanTrainerTest.host(t.optimizerState()).forEach((k, h) -> out.put("opt." + k, h.data()));
        return out;
    }
}
