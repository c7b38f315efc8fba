import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.bench.JvmThreads;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.SamplingConfig;
import dev.rq.model.config.TrainConfig;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.nn.Tensors;
import dev.rq.model.sampling.RqSampler;
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
 * How the JVM's own work settles over a long run of one of {@code rq bench}'s calls (bench64, batch
 * 16): per block of calls, the medians of the wall time and of the calling thread's CPU time, and
 * the JIT compiler threads' and GC threads' CPU per call ({@link JvmThreads}), plus the JVM's
 * uptime at the block's end (to match {@code -XX:+PrintCompilation} / JFR timestamps). Run it with
 * different JVM options to compare how fast compilation settles (docs/performance-history.md, "Session 10").
 *
 * After `bin/rq --help`, from the repository root:
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true [JVM OPTIONS] \
 *     -cp "rq-model/target/classes:$(cat spark-jobs/target/classpath.txt)" scripts/JitSettle.java \
 *     tokenize|vae-train|tf-train|sample fp32|bf16 THREADS CALLS BLOCK
 * (tokenize and vae-train on conf/rqvae/bench64.yaml, tf-train and sample on conf/rqtransformer/bench64.yaml)
 */
public class JitSettle {
    public static void main(String[] a) throws Exception {
        String work = a[0];
        Precision p = a[1].equals("bf16") ? Precision.BF16 : Precision.FP32;
        int threads = Integer.parseInt(a[2]);
        int calls = Integer.parseInt(a[3]);
        int block = Integer.parseInt(a[4]);
        Engines.pytorch(threads);
        int batch = 16;
        try (NDManager m = Engines.newManager()) {
            Runnable call = switch (work) {
                case "tokenize", "vae-train" -> vaeCall(work, p, m, batch);
                case "tf-train", "sample" -> transformerCall(work, p, m, batch);
                default -> throw new IllegalArgumentException("workload: tokenize|vae-train|tf-train|sample, not " + work);
            };
            run(work + " " + p.id() + ", " + threads + " threads", call, calls, block);
        }
    }

    static void run(String title, Runnable call, int calls, int block) {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        System.out.printf("%s; per block of %d calls: medians, and JVM threads' CPU per call%n", title, block);
        System.out.printf("%8s %9s %10s %10s %9s %9s %10s%n", "calls", "wall ms", "thread ms", "JIT ms", "GC ms",
                "uptime s", "JIT total");
        JvmThreads start = JvmThreads.now();
        for (int b = 0; b * block < calls; b++) {
            double[] wall = new double[block];
            double[] cpu = new double[block];
            JvmThreads j0 = JvmThreads.now();
            for (int i = 0; i < block; i++) {
                long c0 = mx.getCurrentThreadCpuTime();
                long t0 = System.nanoTime();
                try (NDScope scope = new NDScope()) {
                    call.run();
                }
                wall[i] = (System.nanoTime() - t0) / 1e6;
                cpu[i] = (mx.getCurrentThreadCpuTime() - c0) / 1e6;
            }
            JvmThreads now = JvmThreads.now();
            JvmThreads d = now.since(j0);
            Arrays.sort(wall);
            Arrays.sort(cpu);
            System.out.printf("%8d %9.1f %10.1f %10.2f %9.2f %9.1f %10.0f%n", (b + 1) * block, wall[block / 2],
                    cpu[block / 2], d.jitNanos() / 1e6 / block, d.gcNanos() / 1e6 / block,
                    ManagementFactory.getRuntimeMXBean().getUptime() / 1e3, now.since(start).jitNanos() / 1e6);
        }
    }

    static Runnable vaeCall(String work, Precision p, NDManager m, int batch) throws java.io.IOException {
        RqVaeRunConfig config = Configs.loadRqVae(Path.of("conf/rqvae/bench64.yaml"), List.of());
        int res = config.model().ddconfig().resolution();
        RqVae vae = RqVae.create(config.model(), m, 0);
        vae.setPrecision(p);
        NDArray x = Tensors.of(m, SyntheticImages.batch(batch, res, 42), new Shape(batch, 3, res, res));
        if (work.equals("tokenize")) {
            ParamStore.Frozen casts = vae.params().holdFrozenCasts(); // as VaeBench and the tokenize job
            return () -> vae.codes(x).toLongArray();
        }
        TrainConfig t = config.train();
        TrainConfig bench = new TrainConfig(batch, 1, batch, t.lr(), t.betas(), t.adamEps(), t.weightDecay(),
                t.warmupSteps(), t.schedule(), t.minLr(), t.maxSteps(), t.gradClipNorm(), t.seed(),
                t.checkpointEvery(), t.keepCheckpoints(), t.logEvery(), t.init(), p.id(), t.allreduceBucketMb());
        VaeTrainer trainer = new VaeTrainer(vae, bench, Collective.local());
        return () -> trainer.step(List.of(x));
    }

    static Runnable transformerCall(String work, Precision p, NDManager m, int batch) throws java.io.IOException {
        Path conf = Path.of("conf/rqtransformer/bench64.yaml");
        TransformerRunConfig config = TransformerRunConfig.load(conf, List.of());
        var vaeConfig = Configs.loadRqVae(conf.resolveSibling(config.vae().config()), List.of()).model();
        config = new TransformerRunConfig(config.model(), config.vae(), config.train().withPrecision(p),
                config.loss(), config.sampling(), config.data());
        var mc = config.model();
        RqVae vae = RqVae.create(vaeConfig, m, 0);
        RqTransformer model = RqTransformer.create(mc, m, 0);
        model.setPrecision(p);
        Rng rng = new Rng(42);
        long[] codes = new long[batch * mc.positions() * mc.depth()];
        for (int i = 0; i < codes.length; i++) {
            codes[i] = rng.nextInt(mc.vocab(i % mc.depth()));
        }
        long[] labels = new long[batch * mc.condLength()];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = rng.nextInt(mc.condVocab());
        }
        if (work.equals("tf-train")) {
            NDArray x = Tensors.of(m, codes).reshape(batch, mc.height(), mc.width(), mc.depth());
            TransformerTrainer trainer = new TransformerTrainer(model, vae, config, Collective.local());
            return () -> trainer.step(List.of(TransformerTrainer.MicroBatch.ofCodes(x, labels)));
        }
        RqSampler sampler = new RqSampler(model, vae); // as TransformerBench: top-k 100, top-p 0.95, KV cache
        SamplingConfig sc = SamplingConfig.of(1.0, 100, 0.95);
        long[] cond = new long[batch];
        for (int i = 0; i < cond.length; i++) {
            cond[i] = i % mc.condVocab();
        }
        long[] first = {0};
        return () -> {
            sampler.sample(mc.condLength() == 1 ? cond : null, sc, RqSampler.rowGenerators(7, first[0], batch), true);
            first[0] += batch;
        };
    }
}
