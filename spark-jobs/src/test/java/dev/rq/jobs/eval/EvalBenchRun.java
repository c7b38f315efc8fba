package dev.rq.jobs.eval;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.jobs.tokenize.TokenFixtures;
import dev.rq.jobs.tokenize.TokenizeJob;
import dev.rq.model.checkpoint.LocalDir;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.metrics.FrechetDistance;
import dev.rq.model.metrics.GaussianStats;
import dev.rq.model.metrics.InceptionV3;
import dev.rq.model.nn.Tensors;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.util.Rng;
import dev.rq.model.vae.RqVae;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.tables.Variant;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import dev.rq.executor.ExecutorModels;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The eval throughput measurements of {@code scripts/bench-eval.sh} (runs only with {@code
 * -Drq.bench=true}): in-process FID-network images/s, feature statistics and Fréchet distance time
 * at 2048-d, and the {@code rq eval} jobs end to end on the emoji validation split (186 images,
 * 64×64, random bench64 RQ-VAE and random Inception weights: the same cost as the real ones).
 * Prints {@code BENCH} lines.
 */
class EvalBenchRun {

    @Test
    void bench() throws Exception {
        Assumptions.assumeTrue(Boolean.getBoolean("rq.bench"), "set -Drq.bench=true");
        int threads = Integer.getInteger("rq.bench.threads", 2);
        double minSeconds = Double.parseDouble(System.getProperty("rq.bench.seconds", "20"));
        Path tmp = Files.createTempDirectory("rq-eval-bench");
        Map<String, HostTensor> weights = InceptionV3.randomStateDict(1);
        Path inception = EvalFixtures.randomInception(tmp, 1);

        // 1. the FID network in-process, batch 16 of 64x64 images
        Engines.pytorch(threads);
        try (NDManager m = Engines.newManager(); InceptionV3 net = InceptionV3.fromStateDict(weights, m)) {
            float[] x = new float[16 * 3 * 64 * 64];
            Rng rng = new Rng(2);
            for (int i = 0; i < x.length; i++) {
                x[i] = rng.nextFloat();
            }
            for (int w = 0; w < 2; w++) {
                try (NDManager s = m.newSubManager()) {
                    net.features(Tensors.of(s, x, new Shape(16, 3, 64, 64))).toFloatArray();
                }
            }
            long t0 = System.nanoTime();
            int n = 0;
            while (n < 48 || (System.nanoTime() - t0) / 1e9 < minSeconds) {
                try (NDManager s = m.newSubManager()) {
                    net.features(Tensors.of(s, x, new Shape(16, 3, 64, 64))).toFloatArray();
                }
                n += 16;
            }
            double sec = (System.nanoTime() - t0) / 1e9;
            System.out.printf(Locale.ROOT, "BENCH inception_img_per_s %.2f (batch 16, %d threads, %d images in %.1f s)%n",
                    n / sec, threads, n, sec);
        }

        // 2. statistics of 4096 2048-d features and the full-rank Fréchet distance
        float[][] fa = features(4096, 3);
        float[][] fb = features(4096, 4);
        long t0 = System.nanoTime();
        GaussianStats a = GaussianStats.of(fa);
        double statsSec = (System.nanoTime() - t0) / 1e9;
        GaussianStats b = GaussianStats.of(fb);
        t0 = System.nanoTime();
        double fid = FrechetDistance.of(a, b);
        double fidSec = (System.nanoTime() - t0) / 1e9;
        System.out.printf(Locale.ROOT, "BENCH stats_4096x2048_s %.2f fid_2048_full_rank_s %.2f (fid %.4f)%n", statsSec,
                fidSec, fid);

        // 3. the jobs end to end on the emoji validation split, local[2]
        SparkSession spark = TokenFixtures.spark("EvalBenchRun");
        try {
            RqVaeRunConfig cfg = Configs.loadRqVae(TokenFixtures.repo().resolve("conf/rqvae/bench64.yaml"), List.of());
            Path ckpt = tmp.resolve("ckpt");
            try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(cfg.model(), m, 5)) {
                VaeCheckpoint.save(new LocalDir(ckpt), vae, cfg, 0, null, null);
            }
            String data = TokenFixtures.emojiValidation();
            for (boolean withInception : new boolean[] {false, true}) {
                List<String> sets = withInception ? List.of("eval.inception_weights=" + inception) : List.of();
                long s0 = System.nanoTime();
                EvalJob.Result r = EvalJob.run(spark, new EvalJob.Options(ckpt.toString(), data, null,
                        tmp.resolve("eval-" + withInception).toString(), sets, 0, 1, 0));
                double sec = (System.nanoTime() - s0) / 1e9;
                System.out.printf(Locale.ROOT, "BENCH eval_reconstruction%s_img_per_s %.2f end to end (%d images in %.1f s;"
                        + " image pass %.2f img/s)%n", withInception ? "_rfid" : "", r.summary().images() / sec,
                        r.summary().images(), sec, r.summary().job().imagesPerSecond());
            }
            String tokens = tmp.resolve("tokens").toString();
            TokenizeJob.run(spark, new TokenizeJob.Options(ckpt.toString(), data, tokens, List.of(Variant.CENTER), 16,
                    List.of(), false, 1, 0));
            long s0 = System.nanoTime();
            EvalJob.Result g = GeneratedEvalJob.run(spark, new GeneratedEvalJob.Options(tokens, null,
                    tmp.resolve("eval-true/stats/original.npz").toString(), null, null, null,
                    tmp.resolve("fid").toString(), List.of("eval.inception_weights=" + inception), 0, 1, 0));
            double sec = (System.nanoTime() - s0) / 1e9;
            System.out.printf(Locale.ROOT, "BENCH eval_generated_img_per_s %.2f end to end (%d images in %.1f s;"
                    + " image pass %.2f img/s; FID of the decoded tokens vs the originals %.4f)%n",
                    g.summary().images() / sec, g.summary().images(), sec, g.summary().job().imagesPerSecond(),
                    g.summary().fid());
        } finally {
            ExecutorModels.clear();
            spark.stop();
            try (var files = Files.walk(tmp)) { // ~300 MB of weights and outputs
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }

    static float[][] features(int n, long seed) {
        Rng rng = new Rng(seed);
        float[][] f = new float[n][InceptionV3.FEATURES];
        for (float[] r : f) {
            for (int j = 0; j < r.length; j++) {
                r[j] = (float) Math.max(0, 0.3 + 0.3 * rng.nextGaussian());
            }
        }
        return f;
    }
}
