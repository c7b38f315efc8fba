import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.rq.model.config.Configs;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.nn.Tensors;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.transformer.TransformerTrainer;
import dev.rq.model.util.Rng;
import dev.rq.model.vae.RqVae;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Step cost of stage-2 (RQ-Transformer) config variants for the quickstart (issue #15 item 2): one
 * trainer per variant (the config plus that variant's comma-separated key=value overrides; "-" = none),
 * all in one JVM at 1 libtorch thread, stepping in turn (rotating order each round) so that every
 * variant sees the same load; prints the medians of wall and calling-thread CPU time per step and
 * each variant's CPU cost relative to the first. A variant's {@code batch=N} (not a config key) sets its
 * micro-batch instead of BATCH (e.g. {@code batch=8} against {@code -}: per-row cost at a larger batch); its {@code micro=G}
 * (not a config key either) computes the step's rows in micro-batches of G rows, as {@code train.micro_batch_size} G
 * does in {@code rq train-transformer} (e.g. {@code micro=1} against {@code -}: the quickstart's 4 rows per rank in 4
 * passes of 1 instead of 1 of 4). With 1 intra-op thread every operator runs on the
 * calling thread, so the thread CPU time is the step's work even on a loaded machine.
 *
 * After `bin/rq --help`, from the repository root:
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true \
 *     -cp "$(cat spark-jobs/target/classpath.txt):rq-model/target/classes" scripts/Stage2VariantCostAb.java \
 *     conf/rqtransformer/quickstart.yaml bf16 ROUNDS BATCH - model.head.n_layer=1 model.body.n_layer=3
 */
public class Stage2VariantCostAb {
    public static void main(String[] a) throws Exception {
        Path conf = Path.of(a[0]);
        Precision p = Precision.parse(a[1]);
        int rounds = Integer.parseInt(a[2]);
        int batch0 = Integer.parseInt(a[3]);
        List<String> names = new ArrayList<>(Arrays.asList(a).subList(4, a.length));
        Engines.pytorch(1);
        int n = names.size();
        Runnable[] steps = new Runnable[n];
        List<AutoCloseable> close = new ArrayList<>();
        try (NDManager m = Engines.newManager()) {
            for (int v = 0; v < n; v++) {
                List<String> ov = new ArrayList<>(names.get(v).equals("-") ? List.of() : List.of(names.get(v).split(",")));
                int batch = ov.stream().filter(o -> o.startsWith("batch=")).mapToInt(o -> Integer.parseInt(o.substring(6)))
                        .findFirst().orElse(batch0);
                int micro = ov.stream().filter(o -> o.startsWith("micro=")).mapToInt(o -> Integer.parseInt(o.substring(6)))
                        .findFirst().orElse(batch);
                ov.removeIf(o -> o.startsWith("batch=") || o.startsWith("micro="));
                TransformerRunConfig tc = TransformerRunConfig.load(conf, ov);
                var mc = tc.model();
                RqVae vae = RqVae.create(Configs.loadRqVae(conf.resolveSibling(tc.vae().config()), List.of()).model(), m, 0);
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
                RqTransformer model = RqTransformer.create(mc, m, 0);
                model.setPrecision(p);
                TransformerRunConfig c = new TransformerRunConfig(mc, tc.vae(), tc.train().withPrecision(p), tc.loss(),
                        tc.sampling(), tc.data());
                TransformerTrainer trainer = new TransformerTrainer(model, vae, c, Collective.local());
                List<TransformerTrainer.MicroBatch> micros = new ArrayList<>();
                int lc = mc.condLength();
                for (int s = 0; s < batch; s += micro) {
                    micros.add(TransformerTrainer.MicroBatch.ofCodes(x.get(s + ":" + (s + micro)),
                            Arrays.copyOfRange(labels, s * lc, (s + micro) * lc)));
                }
                steps[v] = () -> trainer.step(micros);
                close.add(model);
                close.add(vae);
            }
            ThreadMXBean mx = ManagementFactory.getThreadMXBean();
            double[][] wall = new double[n][rounds];
            double[][] cpu = new double[n][rounds];
            for (int r = -1; r < rounds; r++) {
                for (int k = 0; k < n; k++) {
                    int v = (k + Math.max(r, 0)) % n;
                    long c0 = mx.getCurrentThreadCpuTime();
                    long t0 = System.nanoTime();
                    steps[v].run();
                    if (r >= 0) {
                        wall[v][r] = (System.nanoTime() - t0) / 1e6;
                        cpu[v][r] = (mx.getCurrentThreadCpuTime() - c0) / 1e6;
                    }
                }
            }
            System.out.printf("%s, %s, batch %d, 1 thread, %d rounds, medians per step:%n", conf, p.id(), batch0, rounds);
            double base = 0;
            for (int v = 0; v < n; v++) {
                Arrays.sort(wall[v]);
                Arrays.sort(cpu[v]);
                double c = cpu[v][rounds / 2];
                if (v == 0) {
                    base = c;
                }
                System.out.printf("  %-40s wall %8.1f ms   thread cpu %8.1f ms   cpu / first %.3f%n", names.get(v),
                        wall[v][rounds / 2], c, c / base);
            }
            for (AutoCloseable ac : close) {
                ac.close();
            }
        }
    }
}
