package dev.rq.model.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.TrainConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.loss.Lpips;
import dev.rq.model.loss.PatchDiscriminator;
import dev.rq.model.engine.Precision;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.nn.Tensors;
import dev.rq.model.train.VaeStepMetrics;
import dev.rq.model.train.VaeTrainer;
import dev.rq.model.util.SyntheticImages;
import dev.rq.model.vae.RqVae;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The RQ-VAE benchmark of {@code rq bench}: after warm-up, tokenize (encode + quantize, eval
 * mode) and a training step (forward + backward + Adam + EMA) at a fixed batch size and intra-op
 * thread count, on seeded synthetic images, in each requested precision (each on a freshly
 * initialised model with the same seed). Also times the eval-mode encoder, quantizer and decoder
 * separately and the phases of the training step, to show where the time goes.
 *
 * <p>Keys: {@code tokenize_img_per_s}, {@code vae_train_img_per_s}, … for float32; the same with
 * {@code _bf16} before {@code _img_per_s} / {@code _ms} for bfloat16. With both precisions, the
 * bfloat16 guards: {@code tokenize_bf16_code_agreement} (fraction of codes equal to the float32
 * codes) and {@code decode_bf16_rel_error} (relative L2 error of the bfloat16 decoding of the
 * float32 codes). With a {@code gan} section, also the
 * official stage-1 step with LPIPS and the patch GAN ({@code stage1_gan_train_img_per_s}, float32
 * only; random LPIPS weights, the same cost as the real ones).
 *
 * <p>{@code -Drq.bench.profile=PREFIX} runs one more, untimed training step and one tokenize call
 * under libtorch's profiler and writes their chrome traces to {@code PREFIX-vae-train[_bf16].json} and
 * {@code PREFIX-tokenize[_bf16].json} (scripts/profile-summary.py sums them;
 * scripts/anchor_profile_vae.py profiles the official step the same way).
 */
public final class VaeBench {

    private VaeBench() {}

    /**
     * Benchmark settings.
     *
     * @param threads libtorch intra-op threads
     * @param batch images per call
     * @param warmup untimed iterations first
     * @param maxWarmupSeconds for tokenize and the training step, more untimed iterations until the JIT
     *     compiler has settled, for at most this long (0: exactly {@code warmup}; BenchTimer)
     * @param minIters timed iterations at least
     * @param minSeconds and at least this long
     */
    public record Settings(int threads, int batch, int warmup, double maxWarmupSeconds, int minIters,
            double minSeconds) {}

    /** Runs the float32 benchmark. */
    public static Map<String, Object> run(RqVaeRunConfig config, Settings s) {
        return run(config, s, List.of(Precision.FP32));
    }

    /** Runs the benchmark in each of {@code precisions}; returns ordered results (img/s and ms). */
    public static Map<String, Object> run(RqVaeRunConfig config, Settings s, List<Precision> precisions) {
        Engines.pytorch(s.threads());
        int res = config.model().ddconfig().resolution();
        Map<String, Object> out = new LinkedHashMap<>();
        long[] codes32 = null;
        float[] decoded32 = null;
        for (Precision p : precisions) {
            String sfx = p == Precision.FP32 ? "" : "_" + p.id();
            try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(config.model(), m, 0)) {
                vae.setPrecision(p);
                NDArray x = Tensors.of(m, SyntheticImages.batch(s.batch(), res, 42), new Shape(s.batch(), 3, res, res));
                out.putIfAbsent("params", vae.params().trainableCount());
                BenchTimer.Timing tok;
                // as the tokenize job runs its model: the bfloat16 weights cast once, not at every call
                try (ParamStore.Frozen casts = vae.params().holdFrozenCasts()) {
                    tok = settle(s, () -> vae.codes(x).toLongArray());
                }
                out.put("tokenize" + sfx + "_img_per_s", s.batch() / tok.secondsPerCall());
                tok.putInto(out, "tokenize" + sfx);
                NDArray codes = vae.codes(x);
                NDArray ze = vae.encode(x, false);
                NDArray zq = vae.quantizer().quantize(ze, false, Collective.local(), null).zq();
                out.put("encode" + sfx + "_ms", 1000 * time(s, () -> vae.encode(x, false).toFloatArray()));
                out.put("quantize" + sfx + "_ms", 1000 * time(s, () -> vae.quantizer()
                        .quantize(ze, false, Collective.local(), null).codes().toLongArray()));
                out.put("decode" + sfx + "_ms", 1000 * time(s, () -> vae.decode(zq, false).toFloatArray()));
                if (p == Precision.FP32) {
                    codes32 = codes.toLongArray();
                    decoded32 = vae.decodeCodes(codes).toFloatArray();
                } else if (codes32 != null) {
                    out.put("tokenize" + sfx + "_code_agreement", agreement(codes.toLongArray(), codes32));
                    float[] dec = vae.decodeCodes(Tensors.of(m, codes32).reshape(codes.getShape())).toFloatArray();
                    out.put("decode" + sfx + "_rel_error", relativeError(dec, decoded32));
                }
                // One step = one forward/backward pass over the whole batch (as the official bench runs it):
                // the config's batch_size / micro_batch_size describe a training run, not this measurement.
                TrainConfig t = config.train();
                TrainConfig bench = new TrainConfig(s.batch(), 1, s.batch(), t.lr(), t.betas(), t.adamEps(),
                        t.weightDecay(), t.warmupSteps(), t.schedule(), t.minLr(), t.maxSteps(), t.gradClipNorm(),
                        t.seed(), t.checkpointEvery(), t.keepCheckpoints(), t.logEvery(), t.init(), p.id(), t.allreduceBucketMb());
                VaeTrainer trainer = new VaeTrainer(vae, bench, Collective.local());
                double[] phases = new double[4];
                int[] n = {0};
                BenchTimer.Timing train = settle(s, () -> {
                    VaeStepMetrics sm = trainer.step(List.of(x));
                    phases[0] += sm.timings().forward();
                    phases[1] += sm.timings().backward();
                    phases[2] += sm.timings().allReduce();
                    phases[3] += sm.timings().optimizer();
                    n[0]++;
                });
                String profile = System.getProperty("rq.bench.profile");
                if (profile != null) { // one more step and one tokenize call under libtorch's profiler, not timed
                    JniUtils.startProfile(false, false, false);
                    trainer.step(List.of(x));
                    JniUtils.stopProfile(profile + "-vae-train" + sfx + ".json");
                    JniUtils.startProfile(false, false, false);
                    vae.codes(x).toLongArray();
                    JniUtils.stopProfile(profile + "-tokenize" + sfx + ".json");
                }
                out.put("vae_train" + sfx + "_img_per_s", s.batch() / train.secondsPerCall());
                train.putInto(out, "vae_train" + sfx);
                out.put("train" + sfx + "_forward_ms", 1000 * phases[0] / n[0]);
                out.put("train" + sfx + "_backward_ms", 1000 * phases[1] / n[0]);
                out.put("train" + sfx + "_optimizer_ms", 1000 * phases[3] / n[0]);
                if (config.gan() != null && p == Precision.FP32) { // the official stage-1 step with LPIPS and the patch GAN
                    try (PatchDiscriminator d = PatchDiscriminator.create(config.gan().disc().arch(), m, 0);
                            Lpips lpips = config.gan().loss().perceptual() ? Lpips.random(m, 0) : null) {
                        VaeTrainer gan = new VaeTrainer(vae, bench, new VaeTrainer.Gan(config.gan().loss(), d, lpips),
                                Collective.local());
                        int epoch = config.gan().loss().discStart(); // the GAN part on
                        out.put("stage1_gan_train_img_per_s", s.batch() / time(s, () -> gan.step(List.of(x), epoch)));
                    }
                }
            }
        }
        return out;
    }

    static double agreement(long[] a, long[] b) {
        int same = 0;
        for (int i = 0; i < a.length; i++) {
            same += a[i] == b[i] ? 1 : 0;
        }
        return same / (double) a.length;
    }

    static double relativeError(float[] a, float[] reference) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < a.length; i++) {
            double d = a[i] - (double) reference[i];
            num += d * d;
            den += reference[i] * (double) reference[i];
        }
        return Math.sqrt(num / den);
    }

    private static double time(Settings s, Runnable r) {
        return BenchTimer.secondsPerCall(s.warmup(), s.minIters(), s.minSeconds(), r);
    }

    private static BenchTimer.Timing settle(Settings s, Runnable r) {
        return BenchTimer.measure(s.warmup(), s.maxWarmupSeconds(), s.minIters(), s.minSeconds(), r);
    }
}
