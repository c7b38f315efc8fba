import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.TrainConfig;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.nn.Tensors;
import dev.rq.model.train.VaeTrainer;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.transformer.TransformerTrainer;
import dev.rq.model.util.Rng;
import dev.rq.model.util.SyntheticImages;
import dev.rq.model.vae.RqVae;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * What bf16 buys the quickstart (issue #15 item 2): the training step of each quickstart stage
 * (stage 1: conf/rqvae/quickstart.yaml, stage 2: conf/rqtransformer/quickstart.yaml) in fp32 and in
 * bf16, two models from the same seed in one JVM, alternating step by step so that both precisions
 * see the same machine load. The batch is one rank's micro-batch of the quickstart (4 images: global
 * batch 8 on 2 ranks). Prints per stage the medians of the wall time and of the calling thread's CPU
 * time per step; with 1 intra-op thread (a quickstart rank's setting) every libtorch operator runs on
 * the calling thread, so the CPU time is the step's work even on a loaded machine. Step cost ×
 * steps = a stage's training work (the quickstart's 2 ranks run in parallel on 2 cores).
 *
 * After `bin/rq --help` (builds the jars), from the repository root (about 2 min for 8 rounds idle):
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true \
 *     -cp "$(cat spark-jobs/target/classpath.txt):rq-model/target/classes" scripts/QuickstartPrecisionAb.java \
 *     conf/rqvae/quickstart.yaml conf/rqtransformer/quickstart.yaml ROUNDS [BATCH]
 */
public class QuickstartPrecisionAb {
    private static final Precision[] P = {Precision.FP32, Precision.BF16};

    public static void main(String[] a) throws Exception {
        Path vaeConf = Path.of(a[0]);
        Path tfConf = Path.of(a[1]);
        int rounds = Integer.parseInt(a[2]);
        int batch = a.length > 3 ? Integer.parseInt(a[3]) : 4;
        Engines.pytorch(1);
        RqVaeRunConfig vc = Configs.loadRqVae(vaeConf, List.of());
        try (NDManager m = Engines.newManager()) {
            int res = vc.model().ddconfig().resolution();
            NDArray x = Tensors.of(m, SyntheticImages.batch(batch, res, 42), new Shape(batch, 3, res, res));
            RqVae[] vaes = new RqVae[2];
            Runnable[] steps = new Runnable[2];
            for (int v = 0; v < 2; v++) {
                vaes[v] = RqVae.create(vc.model(), m, 0);
                vaes[v].setPrecision(P[v]);
                TrainConfig t = vc.train();
                TrainConfig one = new TrainConfig(batch, 1, batch, t.lr(), t.betas(), t.adamEps(), t.weightDecay(),
                        t.warmupSteps(), t.schedule(), t.minLr(), t.maxSteps(), t.gradClipNorm(), t.seed(),
                        t.checkpointEvery(), t.keepCheckpoints(), t.logEvery(), t.init(), P[v].id(), t.allreduceBucketMb());
                VaeTrainer trainer = new VaeTrainer(vaes[v], one, Collective.local());
                steps[v] = () -> trainer.step(List.of(x));
            }
            report("stage 1 " + vaeConf, batch, rounds, steps);
            for (RqVae vae : vaes) {
                vae.close();
            }
        }
        TransformerRunConfig tc = TransformerRunConfig.load(tfConf, List.of());
        var mc = tc.model();
        try (NDManager m = Engines.newManager();
                RqVae vae = RqVae.create(Configs.loadRqVae(tfConf.resolveSibling(tc.vae().config()), List.of()).model(), m, 0)) {
            Rng rng = new Rng(42);
            long[] codes = new long[batch * mc.positions() * mc.depth()];
            for (int i = 0; i < codes.length; i++) {
                codes[i] = rng.nextInt(mc.vocab(i % mc.depth()));
            }
            long[] labels = new long[batch * mc.condLength()];
            for (int i = 0; i < labels.length; i++) {
                labels[i] = rng.nextInt(mc.condVocab());
            }
            NDArray x = Tensors.of(m, codes).reshape(batch, mc.height(), mc.width(), mc.depth());
            RqTransformer[] models = new RqTransformer[2];
            Runnable[] steps = new Runnable[2];
            for (int v = 0; v < 2; v++) {
                models[v] = RqTransformer.create(mc, m, 0);
                models[v].setPrecision(P[v]);
                TransformerRunConfig c = new TransformerRunConfig(mc, tc.vae(), tc.train().withPrecision(P[v]),
                        tc.loss(), tc.sampling(), tc.data());
                TransformerTrainer trainer = new TransformerTrainer(models[v], vae, c, Collective.local());
                steps[v] = () -> trainer.step(List.of(TransformerTrainer.MicroBatch.ofCodes(x, labels)));
            }
            report("stage 2 " + tfConf, batch, rounds, steps);
            for (RqTransformer model : models) {
                model.close();
            }
        }
    }

    /** Alternates steps[0] (fp32) and steps[1] (bf16), one warm-up round, and prints the medians. */
    private static void report(String what, int batch, int rounds, Runnable[] steps) {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        double[][] wall = new double[2][rounds];
        double[][] cpu = new double[2][rounds];
        for (int r = -1; r < rounds; r++) {
            for (int k = 0; k < 2; k++) {
                int v = (k + Math.max(r, 0)) % 2;
                long c0 = mx.getCurrentThreadCpuTime();
                long t0 = System.nanoTime();
                steps[v].run();
                if (r >= 0) {
                    wall[v][r] = (System.nanoTime() - t0) / 1e6;
                    cpu[v][r] = (mx.getCurrentThreadCpuTime() - c0) / 1e6;
                }
            }
        }
        System.out.printf("%s, batch %d, 1 thread, %d rounds, medians per step:%n", what, batch, rounds);
        for (int v = 0; v < 2; v++) {
            Arrays.sort(wall[v]);
            Arrays.sort(cpu[v]);
            System.out.printf("  %-5s wall %8.1f ms   thread cpu %8.1f ms%n", P[v].id(), wall[v][rounds / 2],
                    cpu[v][rounds / 2]);
        }
        System.out.printf("  fp32/bf16 (>1: bf16 faster): wall %.3f, cpu %.3f%n", wall[0][rounds / 2] / wall[1][rounds / 2],
                cpu[0][rounds / 2] / cpu[1][rounds / 2]);
    }
}
