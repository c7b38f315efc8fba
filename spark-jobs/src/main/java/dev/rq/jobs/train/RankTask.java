package dev.rq.jobs.train;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.collective.TcpRingCollective;
import dev.rq.executor.TaskDevice;
import dev.rq.jobs.distributed.BarrierCollectives;
import dev.rq.jobs.distributed.RingSettings;
import dev.rq.model.checkpoint.CheckpointDir;
import dev.rq.model.engine.Engines;
import java.io.IOException;
import java.io.OutputStream;
import java.io.Serializable;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.BarrierTaskContext;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction1;

/**
 * One rank of a data-parallel training stage (a Spark barrier task), for any {@link
 * TrainingStage}. Every attempt starts from the latest committed checkpoint of the run (or from
 * the seeded initialisation), trains to {@code max_steps}, checkpoints every {@code
 * checkpoint_every} steps, and returns a one-line JSON summary.
 *
 * <pre>
 * rank r of N:  ring ← rendezvous(run token, stage attempt)
 *               replica ← latest checkpoint | seed        (all ranks check they loaded the same)
 *               loop: replica.trainStep()                  (gradients all-reduced inside)
 *                     rank 0 → progress line to the driver
 *                     every K steps: weight checksums compared over ranks; rank 0 writes
 *                     step-N.tmp, commits it (rename); barrier
 * </pre>
 */
final class RankTask extends AbstractFunction1<Iterator<Integer>, Iterator<String>> implements Serializable {

    private static final long serialVersionUID = 2L;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final TrainingStage stage;
    private final String runUri;
    private final String runToken;
    private final String progressAddress;
    private final RingSettings network;
    private final String faultInjection;
    private final Map<String, String> hadoopConf;

    RankTask(TrainingStage stage, String runUri, String runToken, String progressAddress, RingSettings ring,
            String faultInjection, Map<String, String> hadoopConf) {
        this.stage = stage;
        this.runUri = runUri;
        this.runToken = runToken;
        this.progressAddress = progressAddress;
        this.network = ring;
        this.faultInjection = faultInjection;
        this.hadoopConf = hadoopConf;
    }

    @Override
    public Iterator<String> apply(Iterator<Integer> ignored) {
        BarrierTaskContext ctx = BarrierTaskContext.get();
        Configuration conf = new Configuration();
        hadoopConf.forEach(conf::set);
        int threads = Math.max(1, ctx.cpus());
        Engines.pytorch(threads);
        try (TcpRingCollective ring = BarrierCollectives.create(ctx, runToken + "/" + ctx.stageAttemptNumber(), network);
                NDManager manager = Engines.pytorch(threads).newBaseManager(TaskDevice.forTask(ctx))) {
            return CollectionConverters.asScala(List.of(train(ctx, ring, conf, manager, threads)).iterator());
        } catch (IOException e) {
            throw new RuntimeException("rank " + ctx.partitionId() + ": " + e.getMessage(), e);
        }
    }

    private String train(BarrierTaskContext ctx, TcpRingCollective ring, Configuration conf, NDManager manager,
            int threads) throws IOException {
        int rank = ring.rank();
        int n = ring.worldSize();
        RunDirectory run = new RunDirectory(runUri, conf);
        TrainingStage.Limits limits = stage.limits();
        Optional<CheckpointDir> latest = run.latest();
        try (TrainingStage.Replica replica = stage.open(ring, manager, conf, latest);
                Socket progress = rank == 0 ? connect(progressAddress, network.progressConnectTimeout()) : null) {
            if (replica.loadedFrom() != null) {
                agree(ring, replica.loadedFrom(), "loaded checkpoint"); // all ranks resumed from the same one
            }
            OutputStream progressOut = progress == null ? null : progress.getOutputStream();
            send(progressOut, event("start", replica.step(), Map.of("rank", rank, "world_size", n,
                    "resumed_from", latest.map(CheckpointDir::uri).orElse("seed"),
                    "attempt", ctx.stageAttemptNumber(), "threads", threads)));
            long t0 = System.nanoTime();
            long windowStart = replica.step();
            while (replica.step() < limits.maxSteps()) {
                maybeInjectFault(run, rank, replica.step() + 1);
                ObjectNode m = replica.trainStep();
                long step = replica.step();
                if (step % limits.logEvery() == 0 || step == limits.maxSteps()) {
                    long now = System.nanoTime();
                    ObjectNode line = event("step", step, Map.of());
                    line.setAll(m);
                    // images/s over the last logging window, not since the (slow) start
                    line.put("img_per_s", (step - windowStart) * m.path("images").asDouble() / ((now - t0) / 1e9));
                    line.put("time", System.currentTimeMillis() / 1000.0);
                    send(progressOut, line);
                    t0 = now;
                    windowStart = step;
                }
                if (step == limits.maxSteps() || (limits.checkpointEvery() > 0 && step % limits.checkpointEvery() == 0)) {
                    String sha = replica.weightsSha();
                    agree(ring, sha, "weights at step " + step);
                    if (rank == 0) {
                        CheckpointDir dir = run.beginCheckpoint(step);
                        ObjectNode state = JSON.createObjectNode();
                        state.put("step", step);
                        state.put("weights_sha256", sha);
                        state.put("world_size", n);
                        replica.save(dir, state);
                        run.commitCheckpoint(step, limits.keepCheckpoints());
                        try {
                            replica.afterCommit(run, step);
                        } catch (IOException | RuntimeException e) {
                            TrainingJob.LOG.warn("plots of step {} failed: {}", step, e.toString());
                        }
                        send(progressOut, event("checkpoint", step, Map.of("uri", run.checkpoint(step).uri(),
                                "weights_sha256", sha)));
                    }
                    ring.barrier();
                }
            }
            ObjectNode done = event("done", replica.step(), Map.of("rank", rank, "weights_sha256", replica.weightsSha()));
            send(progressOut, done);
            return done.toString();
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

    private static Socket connect(String address, Duration timeout) {
        if (address == null) {
            return null;
        }
        try {
            int c = address.lastIndexOf(':');
            Socket s = new Socket();
            s.connect(new java.net.InetSocketAddress(address.substring(0, c), Integer.parseInt(address.substring(c + 1))),
                    (int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
            return s;
        } catch (IOException e) {
            TrainingJob.LOG.warn("cannot reach the driver's progress endpoint {}: {}", address, e.toString());
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
            TrainingJob.LOG.warn("progress line lost: {}", e.toString());
        }
    }

    private static ObjectNode event(String type, long step, Map<String, ?> fields) {
        ObjectNode n = JSON.createObjectNode();
        n.put("event", type);
        n.put("step", step);
        fields.forEach((k, v) -> n.set(k, JSON.valueToTree(v)));
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
