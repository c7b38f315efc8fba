package dev.rq.jobs.train;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.image.ImageTransform;
import dev.rq.data.loader.Batch;
import dev.rq.data.loader.BatchLoader;
import dev.rq.data.loader.Cursor;
import dev.rq.data.loader.SampleStore;
import dev.rq.jobs.distributed.BarrierCollectives;
import dev.rq.jobs.distributed.TcpRingCollective;
import dev.rq.model.checkpoint.CheckpointDir;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.io.HostTensor;
import dev.rq.model.nn.Tensors;
import dev.rq.model.train.StepMetrics;
import dev.rq.model.train.VaeTrainer;
import dev.rq.model.vae.RqVae;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.report.ImageGrid;
import java.io.IOException;
import java.io.OutputStream;
import java.io.Serializable;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.resource.ResourceInformation;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction1;

/**
 * One rank of the data-parallel RQ-VAE training stage (a Spark barrier task). Every attempt
 * starts from the latest committed checkpoint of the run (or from the seeded initialisation),
 * trains to {@code max_steps}, checkpoints every {@code checkpoint_every} steps, and returns a
 * one-line JSON summary.
 *
 * <pre>
 * rank r of N:  ring ← rendezvous(run token, stage attempt)
 *               model, optimizer, RNG, cursor ← latest checkpoint | seed
 *               loop: M loader batches (global micro-batch B/M, slice r) → trainer.step
 *                     rank 0 → progress line to the driver
 *                     every K steps: weight checksums compared over ranks; rank 0 writes
 *                     step-N.tmp, commits it (rename); barrier
 * </pre>
 */
final class RankTask extends AbstractFunction1<Iterator<Integer>, Iterator<String>> implements Serializable {

    private static final long serialVersionUID = 1L;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String configJson;
    private final String dataUri;
    private final String runUri;
    private final String runToken;
    private final String progressAddress;
    private final long collectiveTimeoutMs;
    private final String faultInjection;
    private final Map<String, String> hadoopConf;

    RankTask(String configJson, String dataUri, String runUri, String runToken, String progressAddress,
            Duration collectiveTimeout, String faultInjection, Map<String, String> hadoopConf) {
        this.configJson = configJson;
        this.dataUri = dataUri;
        this.runUri = runUri;
        this.runToken = runToken;
        this.progressAddress = progressAddress;
        this.collectiveTimeoutMs = collectiveTimeout.toMillis();
        this.faultInjection = faultInjection;
        this.hadoopConf = hadoopConf;
    }

    @Override
    public Iterator<String> apply(Iterator<Integer> ignored) {
        BarrierTaskContext ctx = BarrierTaskContext.get();
        RqVaeRunConfig config = Configs.fromJson(configJson, RqVaeRunConfig.class);
        Configuration conf = new Configuration();
        hadoopConf.forEach(conf::set);
        int threads = Math.max(1, ctx.cpus());
        Engines.pytorch(threads);
        try (TcpRingCollective ring = BarrierCollectives.create(ctx, runToken + "/" + ctx.stageAttemptNumber(),
                        Duration.ofMillis(collectiveTimeoutMs));
                NDManager manager = Engines.pytorch(threads).newBaseManager(device(ctx))) {
            return CollectionConverters.asScala(List.of(train(ctx, ring, config, conf, manager, threads)).iterator());
        } catch (IOException e) {
            throw new RuntimeException("rank " + ctx.partitionId() + ": " + e.getMessage(), e);
        }
    }

    /** The GPU Spark assigned to this task (task resource "gpu"), else the CPU. */
    static Device device(BarrierTaskContext ctx) {
        Optional<ResourceInformation> gpu = Optional.ofNullable(ctx.resourcesJMap().get("gpu"));
        if (gpu.isPresent() && gpu.get().addresses().length > 0) {
            int id = Integer.parseInt(gpu.get().addresses()[0].trim());
            if (Engines.pytorch(0).getGpuCount() == 0) {
                throw new IllegalStateException("Spark assigned GPU " + id + " to this task, but the libtorch on the"
                        + " classpath has no CUDA support: build with a pytorch-native-cu* artifact (see README)");
            }
            return Device.gpu(id);
        }
        return Device.cpu();
    }

    private String train(BarrierTaskContext ctx, TcpRingCollective ring, RqVaeRunConfig config, Configuration conf,
            NDManager manager, int threads) throws IOException {
        int rank = ring.rank();
        int n = ring.worldSize();
        RunDirectory run = new RunDirectory(runUri, conf);
        var train = config.train();
        int micro = train.gradAccumSteps();
        int microGlobal = train.batchSize() / micro;
        // model, optimizer and cursor: from the latest committed checkpoint, or fresh from the seed
        Optional<CheckpointDir> latest = run.latest();
        RqVae vae;
        VaeTrainer trainer;
        Cursor cursor = Cursor.start();
        String resumedFrom = "seed";
        if (latest.isPresent()) {
            VaeCheckpoint.Loaded l = VaeCheckpoint.load(latest.get(), manager);
            vae = l.vae();
            trainer = new VaeTrainer(vae, train, ring);
            JsonNode st = l.checkpoint().trainerState();
            trainer.restore(l.checkpoint().optimizer(), st.get("step").asLong(), st.get("restart_rng").asLong());
            cursor = new Cursor(st.get("cursor").get("epoch").asInt(), st.get("cursor").get("step").asLong());
            resumedFrom = latest.get().uri();
            // all ranks must have loaded the same checkpoint
            agree(ring, l.checkpoint().manifest().files().get(Checkpoints.MODEL).sha256(), "checkpoint");
        } else {
            vae = RqVae.create(config.model(), manager, train.seed());
            trainer = new VaeTrainer(vae, train, ring);
        }
        CanonicalDataset dataset = CanonicalDataset.open(dataUri, conf);
        ImageTransform transform = new ImageTransform(config.model().ddconfig().resolution(),
                config.data().randomCrop() ? ImageTransform.Mode.TRAIN : ImageTransform.Mode.EVAL);
        int res = config.model().ddconfig().resolution();
        try (Socket progress = rank == 0 ? connect(progressAddress) : null;
                BatchLoader loader = BatchLoader.builder()
                        .setStore(new SampleStore(dataset, 512L << 20))
                        .setGlobalBatchSize(microGlobal)
                        .optRank(rank, n)
                        .optSeed(train.seed())
                        .setTransform(transform)
                        .optThreads(Math.max(1, config.data().decodeThreads()))
                        .optStart(cursor)
                        .build()) {
            OutputStream progressOut = progress == null ? null : progress.getOutputStream();
            send(progressOut, event("start", trainer.step(), Map.of("rank", rank, "world_size", n,
                    "resumed_from", resumedFrom, "attempt", ctx.stageAttemptNumber(), "threads", threads)));
            long t0 = System.nanoTime();
            long startStep = trainer.step();
            while (trainer.step() < train.maxSteps()) {
                List<NDArray> batches = new ArrayList<>(micro);
                try (NDManager stepManager = manager.newSubManager()) {
                    for (int m = 0; m < micro; m++) {
                        Batch b = loader.next();
                        batches.add(Tensors.of(stepManager, b.images(), new Shape(b.shape())));
                    }
                    cursor = loader.cursor();
                    maybeInjectFault(run, rank, trainer.step() + 1);
                    StepMetrics sm = trainer.step(batches);
                    if (sm.step() % train.logEvery() == 0 || sm.step() == train.maxSteps()) {
                        long now = System.nanoTime();
                        send(progressOut, metrics(sm, cursor, (now - t0) / 1e9, sm.step() - startStep));
                        t0 = now; // img/s over the last logging window, not since the (slow) start
                        startStep = sm.step();
                    }
                }
                long step = trainer.step();
                boolean last = step == train.maxSteps();
                if (last || (train.checkpointEvery() > 0 && step % train.checkpointEvery() == 0)) {
                    String sha = weightsSha(vae);
                    agree(ring, sha, "weights at step " + step);
                    if (rank == 0) {
                        CheckpointDir dir = run.beginCheckpoint(step);
                        ObjectNode state = JSON.createObjectNode();
                        state.put("step", step);
                        state.put("restart_rng", trainer.rngState());
                        state.putObject("cursor").put("epoch", cursor.epoch()).put("step", cursor.step());
                        state.put("weights_sha256", sha);
                        state.put("world_size", n);
                        VaeCheckpoint.save(dir, vae, config, step, trainer.optimizerState(), state);
                        run.commitCheckpoint(step, train.keepCheckpoints());
                        writeReconstructions(run, vae, dataset, res, step);
                        send(progressOut, event("checkpoint", step, Map.of("uri", run.checkpoint(step).uri(),
                                "weights_sha256", sha)));
                    }
                    ring.barrier();
                }
            }
            ObjectNode done = event("done", trainer.step(), Map.of("rank", rank, "weights_sha256", weightsSha(vae)));
            send(progressOut, done);
            return done.toString();
        } finally {
            vae.close();
        }
    }

    /**
     * Writes {@code plots/recon-step-N.png}: the first 8 images of the dataset (evaluation
     * transform) on the top row, their reconstructions (eval mode, no EMA update) below.
     */
    private static void writeReconstructions(RunDirectory run, RqVae vae, CanonicalDataset dataset, int res, long step)
            throws IOException {
        int n = (int) Math.min(8, dataset.numRows());
        try (BatchLoader val = BatchLoader.builder()
                        .setStore(new SampleStore(dataset, 64L << 20))
                        .setGlobalBatchSize(n)
                        .optShuffle(false)
                        .optThreads(1)
                        .setTransform(new ImageTransform(res, ImageTransform.Mode.EVAL))
                        .build();
                NDManager m = vae.params().manager().newSubManager()) {
            Batch b = val.next();
            NDArray x = Tensors.of(m, b.images(), new Shape(b.shape()));
            float[] recon = vae.forward(x, false, dev.rq.model.distributed.Collective.local(), null).recon()
                    .toFloatArray();
            float[] both = new float[2 * recon.length];
            System.arraycopy(b.images(), 0, both, 0, recon.length);
            System.arraycopy(recon, 0, both, recon.length, recon.length);
            var grid = ImageGrid.grid(both, 2 * n, 3, res, res, n, 2, 0xFFFFFF);
            run.writeFile(RunDirectory.PLOTS + "/recon-" + RunDirectory.name(step) + ".png", ImageGrid.png(grid));
        }
    }

    /** Fails unless every rank holds the same {@code value}. */
    private static void agree(TcpRingCollective ring, String value, String what) {
        List<byte[]> all = ring.allGather(value.getBytes(StandardCharsets.UTF_8));
        for (int r = 0; r < all.size(); r++) {
            String v = new String(all.get(r), StandardCharsets.UTF_8);
            if (!v.equals(value)) {
                throw new IllegalStateException("replicas diverged: " + what + " on rank " + r + " is " + v
                        + " but on rank " + ring.rank() + " is " + value + " (non-deterministic computation or a bug)");
            }
        }
    }

    /** @return SHA-256 over every tensor (parameters and EMA buffers) of the model */
    static String weightsSha(RqVae vae) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (Map.Entry<String, HostTensor> e : vae.params().toHost().entrySet()) {
                md.update(e.getKey().getBytes(StandardCharsets.UTF_8));
                md.update(e.getValue().data());
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private void maybeInjectFault(RunDirectory run, int rank, long step) throws IOException {
        if (faultInjection == null || faultInjection.isBlank()) {
            return;
        }
        FaultInjection f = FaultInjection.parse(faultInjection);
        if (f.rank() != rank || f.step() != step) {
            return;
        }
        org.apache.hadoop.fs.Path marker = run.path("_fault_injected_" + f.mode() + "_" + rank + "_" + step);
        if (run.fs().exists(marker)) {
            return; // one-shot: the retried attempt passes
        }
        run.fs().create(marker, true).close();
        switch (f.mode()) {
            case "throw" -> throw new IllegalStateException("injected fault: rank " + rank + " throws at step " + step);
            case "hang" -> {
                try {
                    Thread.sleep(Long.MAX_VALUE); // stops responding; peers time out, Spark kills us
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("injected hang interrupted", e);
                }
            }
            case "exit" -> Runtime.getRuntime().halt(137); // a killed executor / driver process
            default -> throw new IllegalArgumentException("unknown fault mode " + f.mode());
        }
    }

    private static Socket connect(String address) {
        if (address == null) {
            return null;
        }
        try {
            int c = address.lastIndexOf(':');
            Socket s = new Socket();
            s.connect(new java.net.InetSocketAddress(address.substring(0, c), Integer.parseInt(address.substring(c + 1))),
                    10_000);
            return s;
        } catch (IOException e) {
            TrainVaeJob.LOG.warn("cannot reach the driver's progress endpoint {}: {}", address, e.toString());
            return null;
        }
    }

    private static void send(OutputStream out, ObjectNode line) {
        if (out == null) {
            return;
        }
        try {
            out.write((line.toString() + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException e) {
            TrainVaeJob.LOG.warn("progress line lost: {}", e.toString());
        }
    }

    private static ObjectNode event(String type, long step, Map<String, ?> fields) {
        ObjectNode n = JSON.createObjectNode();
        n.put("event", type);
        n.put("step", step);
        fields.forEach((k, v) -> n.set(k, JSON.valueToTree(v)));
        return n;
    }

    private static ObjectNode metrics(StepMetrics m, Cursor cursor, double elapsed, long stepsInWindow) {
        ObjectNode n = JSON.createObjectNode();
        n.put("event", "step");
        n.put("step", m.step());
        n.put("epoch", cursor.epoch());
        n.put("lr", m.lr());
        n.put("loss", m.loss());
        n.put("recon_loss", m.reconLoss());
        n.put("commit_loss", m.commitLoss());
        n.put("grad_norm", m.gradNorm());
        var p = n.putArray("perplexity");
        for (double v : m.perplexity()) {
            p.add(v);
        }
        var u = n.putArray("used_fraction");
        for (double v : m.usedFraction()) {
            u.add(v);
        }
        n.put("dead_fraction", m.deadFraction());
        n.put("images", m.images());
        n.put("step_seconds", m.seconds());
        n.put("img_per_s", stepsInWindow * m.images() / Math.max(elapsed, 1e-9));
        n.put("allreduce_seconds", m.timings().allReduce());
        n.put("forward_seconds", m.timings().forward());
        n.put("backward_seconds", m.timings().backward());
        n.put("time", System.currentTimeMillis() / 1000.0);
        return n;
    }

    /** {@code mode:rank:step}, mode throw | hang | exit (testing only). */
    record FaultInjection(String mode, int rank, long step) {
        static FaultInjection parse(String s) {
            String[] p = s.split(":");
            if (p.length != 3) {
                throw new IllegalArgumentException("fault injection must be mode:rank:step, got " + s);
            }
            return new FaultInjection(p[0], Integer.parseInt(p[1]), Long.parseLong(p[2]));
        }
    }
}
