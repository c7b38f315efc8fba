import ai.djl.ndarray.NDManager;
import dev.rq.model.config.Configs;
import dev.rq.model.config.SamplingConfig;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.config.VaeConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.sampling.RqSampler;
import dev.rq.model.transformer.RqTransformer;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * In-process A/B of one KV-cached sampling call (the config's sampling settings and batch size, randomly
 * initialised models with the config's {@code model.cond_drop_prob}, which must be &gt; 0) without and with
 * classifier-free guidance ({@code sampling.cfg_scale} 1 vs SCALE: one pass of B vs 2B rows), alternating call
 * by call in one JVM so that both see the same load. Prints the medians of wall and calling-thread CPU time per
 * call (with 1 intra-op thread every libtorch operator runs on the calling thread). docs/quickstart-history.md
 * "Session 12". After `bin/rq --help`, from the repository root (~1 min at 5 rounds, load 5):
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true \
 *     -cp "$(cat spark-jobs/target/classpath.txt):rq-model/target/classes" scripts/CfgSampleCostAb.java \
 *     conf/rqtransformer/quickstart.yaml bf16 ROUNDS SCALE
 */
public class CfgSampleCostAb {
    public static void main(String[] a) throws Exception {
        Path conf = Path.of(a[0]);
        Precision p = a[1].equals("bf16") ? Precision.BF16 : Precision.FP32;
        int rounds = Integer.parseInt(a[2]);
        double scale = Double.parseDouble(a[3]);
        TransformerRunConfig config = TransformerRunConfig.load(conf, List.of());
        VaeConfig vaeConfig = Configs.loadRqVae(conf.resolveSibling(config.vae().config()), List.of()).model();
        Engines.pytorch(1);
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        var mc = config.model();
        int batch = config.sampling().batchSize();
        SamplingConfig[] v = {config.sampling().withCfgScale(1.0), config.sampling().withCfgScale(scale)};
        try (NDManager m = Engines.newManager(); var vae = dev.rq.model.vae.RqVae.create(vaeConfig, m, 0);
                RqTransformer model = RqTransformer.create(mc, m, 0)) {
            model.setPrecision(p);
            RqSampler sampler = new RqSampler(model, vae);
            long[] cond = new long[batch];
            for (int i = 0; i < batch; i++) {
                cond[i] = i % mc.condVocab();
            }
            double[][] wall = new double[2][rounds];
            double[][] cpu = new double[2][rounds];
            for (int r = -1; r < rounds; r++) {
                for (int k = 0; k < 2; k++) {
                    int x = (k + Math.max(r, 0)) % 2;
                    long c0 = mx.getCurrentThreadCpuTime();
                    long t0 = System.nanoTime();
                    sampler.sample(cond, v[x], RqSampler.rowGenerators(7, 0, batch), true);
                    if (r >= 0) {
                        wall[x][r] = (System.nanoTime() - t0) / 1e6;
                        cpu[x][r] = (mx.getCurrentThreadCpuTime() - c0) / 1e6;
                    }
                }
            }
            System.out.printf("%s %s, 1 thread, %d rounds, medians per sampling call (batch %d):%n", conf, p.id(),
                    rounds, batch);
            for (int x = 0; x < 2; x++) {
                Arrays.sort(wall[x]);
                Arrays.sort(cpu[x]);
                System.out.printf("  cfg_scale %-5s wall %8.1f ms   thread cpu %8.1f ms%n", v[x].cfgScale(),
                        wall[x][rounds / 2], cpu[x][rounds / 2]);
            }
            System.out.printf("  guided/plain: wall %.3f, cpu %.3f%n", wall[1][rounds / 2] / wall[0][rounds / 2],
                    cpu[1][rounds / 2] / cpu[0][rounds / 2]);
        }
    }
}
