package dev.rq.model.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.rq.model.config.SamplingConfig;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.config.VaeConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.nn.Tensors;
import dev.rq.model.sampling.RqSampler;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.transformer.TransformerStepMetrics;
import dev.rq.model.transformer.TransformerTrainer;
import dev.rq.model.util.Rng;
import dev.rq.model.vae.RqVae;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The RQ-Transformer benchmark of {@code rq bench}: after warm-up, a training step (forward +
 * backward + AdamW, hard targets on seeded random codes, dropout on) and KV-cached batched
 * sampling (top-k, top-p) at a fixed batch size and intra-op thread count. Randomly initialised
 * models, as the official {@code measure_throughput}. Also reports the phases of the training step.
 *
 * <p>Measured on the idle 2-core development machine (bench64, batch 16, 2 intra-op threads, six
 * runs): 32.3–34.2 train img/s (forward 177–191 ms, backward 270–280 ms, AdamW 24–26 ms per step)
 * and 24.5–31.2 sample img/s (top-k 100, top-p 0.95, KV cache); the official PyTorch reference does
 * about 25 and 7 img/s there. On an oversubscribed machine libtorch's OpenMP workers spin-wait for
 * descheduled peers and both rates collapse (0.5–2.5 img/s was seen at load average 5–7), so
 * measure on an idle machine and compare runs made back to back.
 */
public final class TransformerBench {

    private TransformerBench() {}

    /**
     * Benchmark settings.
     *
     * @param threads libtorch intra-op threads
     * @param batch images per call
     * @param warmup untimed iterations first
     * @param minIters timed iterations at least
     * @param minSeconds and at least this long
     * @param topK sampling top-k (0: none)
     * @param topP sampling top-p
     */
    public record Settings(int threads, int batch, int warmup, int minIters, double minSeconds, int topK, double topP) {

        /** @return the standard settings: 2 threads, batch 16, top-k 100, top-p 0.95 */
        public static Settings standard() {
            return new Settings(2, 16, 1, 3, 10, 100, 0.95);
        }
    }

    /** Runs the benchmark; returns ordered results (img/s and per-phase milliseconds). */
    public static Map<String, Object> run(TransformerRunConfig config, VaeConfig vaeConfig, Settings s) {
        Engines.pytorch(s.threads());
        var mc = config.model();
        Map<String, Object> out = new LinkedHashMap<>();
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(vaeConfig, m, 0);
                RqTransformer model = RqTransformer.create(mc, m, 0)) {
            out.put("params", model.params().trainableCount());
            Rng rng = new Rng(42);
            int n = s.batch() * mc.positions() * mc.depth();
            long[] codes = new long[n];
            for (int i = 0; i < n; i++) {
                codes[i] = rng.nextInt(mc.vocab(i % mc.depth()));
            }
            long[] labels = new long[s.batch() * mc.condLength()];
            for (int i = 0; i < labels.length; i++) {
                labels[i] = rng.nextInt(mc.condVocab());
            }
            NDArray x = Tensors.of(m, codes).reshape(s.batch(), mc.height(), mc.width(), mc.depth());
            TransformerTrainer trainer = new TransformerTrainer(model, vae, config, Collective.local());
            double[] phases = new double[4];
            int[] it = {0};
            double train = time(s, () -> {
                TransformerStepMetrics sm = trainer.step(List.of(TransformerTrainer.MicroBatch.ofCodes(x, labels)));
                phases[0] += sm.timings().forward();
                phases[1] += sm.timings().backward();
                phases[3] += sm.timings().optimizer();
                it[0]++;
            });
            out.put("transformer_train_img_per_s", s.batch() / train);
            out.put("train_forward_ms", 1000 * phases[0] / it[0]);
            out.put("train_backward_ms", 1000 * phases[1] / it[0]);
            out.put("train_optimizer_ms", 1000 * phases[3] / it[0]);
            RqSampler sampler = new RqSampler(model, vae);
            SamplingConfig sc = SamplingConfig.of(1.0, s.topK() > 0 ? s.topK() : null, s.topP());
            long[] cond = new long[s.batch()];
            for (int i = 0; i < cond.length; i++) {
                cond[i] = i % mc.condVocab();
            }
            long[] first = {0};
            Settings ss = new Settings(s.threads(), s.batch(), s.warmup(), Math.max(1, s.minIters() / 2),
                    s.minSeconds(), s.topK(), s.topP());
            double sample = time(ss, () -> {
                sampler.sample(mc.condLength() == 1 ? cond : null, sc, RqSampler.rowGenerators(7, first[0], s.batch()), true);
                first[0] += s.batch();
            });
            out.put("sample_img_per_s", s.batch() / sample);
        }
        return out;
    }

    private static double time(Settings s, Runnable r) {
        return BenchTimer.secondsPerCall(s.warmup(), s.minIters(), s.minSeconds(), r);
    }
}
