import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.util.SyntheticImages;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.TrainConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.nn.Tensors;
import dev.rq.model.train.VaeTrainer;
import dev.rq.model.vae.RqVae;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * In-process A/B of the RQ-VAE training step between two CONFIGS (override lists), e.g. the stage-1 options of
 * session 15: two models built from the same config plus A's or B's overrides, stepped alternately in one JVM on
 * the same synthetic batch, so both see the same machine load; medians of the calling thread's CPU time per step
 * (with 1 intra-op thread every libtorch operator runs on it). docs/quickstart-history.md "Session 15". After `bin/rq --help`:
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true -Drq.ab.batch=4 \
 *     -cp "$(cat spark-jobs/target/classpath.txt):rq-model/target/classes" scripts/VaeConfigCostAb.java \
 *     conf/rqvae/quickstart.yaml bf16 1 ROUNDS "model.hparams.green_magenta_loss_weight=0;model.hparams.restart_threshold=1" -
 * ("-" = no overrides; ';' separates overrides).
 */
public class VaeConfigCostAb {
    public static void main(String[] a) throws Exception {
        Path conf = Path.of(a[0]);
        Precision p = a[1].equals("bf16") ? Precision.BF16 : Precision.FP32;
        int threads = Integer.parseInt(a[2]);
        int rounds = Integer.parseInt(a[3]);
        String[] names = {a[4], a[5]};
        Engines.pytorch(threads);
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        int batch = Integer.getInteger("rq.ab.batch", 16);
        try (NDManager m = Engines.newManager()) {
            VaeTrainer[] trainers = new VaeTrainer[2];
            NDArray x = null;
            for (int v = 0; v < 2; v++) {
                List<String> o = names[v].equals("-") ? List.of() : List.of(names[v].split(";"));
                RqVaeRunConfig config = Configs.loadRqVae(conf, o);
                int res = config.model().ddconfig().resolution();
                RqVae vae = RqVae.create(config.model(), m, 0);
                vae.setPrecision(p);
                x = Tensors.of(m, SyntheticImages.batch(batch, res, 42), new Shape(batch, 3, res, res));
                TrainConfig t = config.train();
                TrainConfig bench = new TrainConfig(batch, 1, batch, t.lr(), t.betas(), t.adamEps(), t.weightDecay(),
                        t.warmupSteps(), t.schedule(), t.minLr(), t.maxSteps(), t.gradClipNorm(), t.seed(),
                        t.checkpointEvery(), t.keepCheckpoints(), t.logEvery(), t.init(), p.id(), t.allreduceBucketMb());
                trainers[v] = new VaeTrainer(vae, bench, Collective.local());
            }
            double[][] cpu = new double[2][rounds];
            for (int r = -2; r < rounds; r++) {
                for (int k = 0; k < 2; k++) {
                    int v = (k + Math.max(r, 0)) % 2;
                    long c0 = mx.getCurrentThreadCpuTime();
                    trainers[v].step(List.of(x));
                    if (r >= 0) {
                        cpu[v][r] = (mx.getCurrentThreadCpuTime() - c0) / 1e6;
                    }
                }
            }
            for (int v = 0; v < 2; v++) {
                Arrays.sort(cpu[v]);
                System.out.printf("  %-80s median thread cpu %8.1f ms%n", names[v], cpu[v][rounds / 2]);
            }
            System.out.printf("  B/A thread cpu %.3f (%s, batch %d, %d threads, %d rounds)%n",
                    cpu[1][rounds / 2] / cpu[0][rounds / 2], p.id(), batch, threads, rounds);
        }
    }
}
