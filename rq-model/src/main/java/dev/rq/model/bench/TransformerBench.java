package dev.rq.model.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.config.SamplingConfig;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.config.VaeConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
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
 * sampling (top-k, top-p) at a fixed batch size and intra-op thread count, in each requested
 * precision (each on freshly initialised models with the same seeds). {@code
 * -Drq.bench.profile=PREFIX} runs one more, untimed training step under libtorch's profiler and
 * writes its chrome trace to {@code PREFIX-transformer-train[_bf16].json} (scripts/profile-summary.py
 * sums it per operator). Randomly initialised models,
 * as the official {@code measure_throughput}. Also reports the phases of the training step.
 *
 * <p>Keys: {@code transformer_train_img_per_s}, {@code sample_img_per_s}, … for float32; the same
 * with {@code _bf16} before {@code _img_per_s} / {@code _ms} for bfloat16, and the guard {@code
 * transformer_bf16_logit_rel_error} (relative L2 error of the bfloat16 teacher-forcing logits
 * against float32 on the benchmark batch). Speed claims are ratios to the official code measured
 * in the same session (scripts/bench-vs-anchor.sh, docs/performance.md): on an oversubscribed machine
 * libtorch's OpenMP workers spin-wait for descheduled peers and every rate collapses.
 */
public final class TransformerBench {

    private TransformerBench() {}

    /**
     * Benchmark settings.
     *
     * @param threads libtorch intra-op threads
     * @param batch images per call
     * @param warmup untimed iterations first
     * @param maxWarmupSeconds then more untimed iterations until the JIT compiler has settled, for at most
     *     this long (0: exactly {@code warmup}; BenchTimer)
     * @param minIters timed iterations at least
     * @param minSeconds and at least this long
     * @param topK sampling top-k (0: none)
     * @param topP sampling top-p
     */
    public record Settings(int threads, int batch, int warmup, double maxWarmupSeconds, int minIters,
            double minSeconds, int topK, double topP) {

        /** @return the standard settings: 2 threads, batch 16, up to 60 s warm-up, top-k 100, top-p 0.95 */
        public static Settings standard() {
            return new Settings(2, 16, 1, 60, 3, 10, 100, 0.95);
        }
    }

    /** Runs the float32 benchmark. */
    public static Map<String, Object> run(TransformerRunConfig config, VaeConfig vaeConfig, Settings s) {
        return run(config, vaeConfig, s, List.of(Precision.FP32));
    }

    /** Runs the benchmark in each of {@code precisions}; returns ordered results (img/s and ms). */
    public static Map<String, Object> run(TransformerRunConfig config, VaeConfig vaeConfig, Settings s,
            List<Precision> precisions) {
        Engines.pytorch(s.threads());
        Map<String, Object> out = new LinkedHashMap<>();
        float[] logits32 = null;
        for (Precision p : precisions) {
            logits32 = run(config, vaeConfig, s, p, out, logits32);
        }
        return out;
    }

    private static float[] run(TransformerRunConfig config, VaeConfig vaeConfig, Settings s, Precision p,
            Map<String, Object> out, float[] logits32) {
        var mc = config.model();
        String sfx = p == Precision.FP32 ? "" : "_" + p.id();
        TransformerRunConfig pc = new TransformerRunConfig(mc, config.vae(), config.train().withPrecision(p),
                config.loss(), config.sampling(), config.data());
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(vaeConfig, m, 0);
                RqTransformer model = RqTransformer.create(mc, m, 0)) {
            model.setPrecision(p);
            out.putIfAbsent("params", model.params().trainableCount());
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
            float[] logits = model.forward(vae, x, mc.condLength() == 1 ? Tensors.of(m, labels) : null, null).logits()
                    .toFloatArray();
            if (p != Precision.FP32 && logits32 != null) {
                out.put("transformer" + sfx + "_logit_rel_error", VaeBench.relativeError(logits, logits32));
            }
            TransformerTrainer trainer = new TransformerTrainer(model, vae, pc, Collective.local());
            double[] phases = new double[4];
            int[] it = {0};
            BenchTimer.Timing train = time(s, () -> {
                TransformerStepMetrics sm = trainer.step(List.of(TransformerTrainer.MicroBatch.ofCodes(x, labels)));
                phases[0] += sm.timings().forward();
                phases[1] += sm.timings().backward();
                phases[3] += sm.timings().optimizer();
                it[0]++;
            });
            String profile = System.getProperty("rq.bench.profile");
            if (profile != null) { // one more step under libtorch's profiler (chrome trace), not timed
                JniUtils.startProfile(false, false, false);
                trainer.step(List.of(TransformerTrainer.MicroBatch.ofCodes(x, labels)));
                JniUtils.stopProfile(profile + "-transformer-train" + sfx + ".json");
            }
            out.put("transformer_train" + sfx + "_img_per_s", s.batch() / train.secondsPerCall());
            train.putInto(out, "transformer_train" + sfx);
            out.put("train" + sfx + "_forward_ms", 1000 * phases[0] / it[0]);
            out.put("train" + sfx + "_backward_ms", 1000 * phases[1] / it[0]);
            out.put("train" + sfx + "_optimizer_ms", 1000 * phases[3] / it[0]);
            RqSampler sampler = new RqSampler(model, vae);
            SamplingConfig sc = SamplingConfig.of(1.0, s.topK() > 0 ? s.topK() : null, s.topP());
            long[] cond = new long[s.batch()];
            for (int i = 0; i < cond.length; i++) {
                cond[i] = i % mc.condVocab();
            }
            long[] first = {0};
            Settings ss = new Settings(s.threads(), s.batch(), s.warmup(), s.maxWarmupSeconds(),
                    Math.max(1, s.minIters() / 2), s.minSeconds(), s.topK(), s.topP());
            BenchTimer.Timing sample = time(ss, () -> {
                sampler.sample(mc.condLength() == 1 ? cond : null, sc, RqSampler.rowGenerators(7, first[0], s.batch()), true);
                first[0] += s.batch();
            });
            out.put("sample" + sfx + "_img_per_s", s.batch() / sample.secondsPerCall());
            sample.putInto(out, "sample" + sfx);
            return p == Precision.FP32 ? logits : logits32;
        }
    }

    private static BenchTimer.Timing time(Settings s, Runnable r) {
        return BenchTimer.measure(s.warmup(), s.maxWarmupSeconds(), s.minIters(), s.minSeconds(), r);
    }
}
