package dev.rq.jobs.train;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.collective.TcpRingCollective;
import dev.rq.executor.TaskDevice;
import dev.rq.jobs.distributed.BarrierCollectives;
import dev.rq.jobs.distributed.RingSettings;
import dev.rq.jobs.distributed.SparkBarriers;
import dev.rq.model.checkpoint.CheckpointDir;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.NoGrad;
import dev.rq.model.train.StepLoop;
import java.io.IOException;
import java.io.OutputStream;
import java.io.Serializable;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.BarrierTaskContext;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction1;

/**
 * One rank of a data-parallel training stage (a Spark barrier task), for any {@link
 * TrainingStage}. Every attempt starts from the newest complete checkpoint of the run that loads
 * (torn or corrupt ones are skipped with a warning; else from the seeded initialisation), trains to {@code max_steps}, checkpoints every {@code
 * checkpoint_every} steps, and returns a one-line JSON summary.
 *
 * <pre>
 * rank r of N:  ring ← rendezvous(run token, stage attempt)
 *               replica ← latest checkpoint | seed        (all ranks check they loaded the same)
 *               loop: replica.trainStep()                  (gradients all-reduced inside)
 *                     rank 0 → progress line to the driver
 *                     every K steps: weight checksums compared over ranks; rank 0 writes
 *                     step-N/ in place, manifest last; Spark barrier (not a ring wait)
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
    private final boolean treeOrder;

    RankTask(TrainingStage stage, String runUri, String runToken, String progressAddress, RingSettings ring,
            String faultInjection, Map<String, String> hadoopConf, boolean treeOrder) {
        this.stage = stage;
        this.treeOrder = treeOrder;
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
        try (TcpRingCollective ring = BarrierCollectives.create(ctx, runToken + "/" + ctx.stageAttemptNumber(), network,
                treeOrder);
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
        FaultInjection faults = new FaultInjection(faultInjection);
        TrainingStage.Limits limits = stage.limits();
        String[] resumedFrom = {"seed"};
        try (TrainingStage.Replica replica = open(run, ring, conf, manager, resumedFrom);
                Socket progress = rank == 0 ? connect(progressAddress, network.progressConnectTimeout()) : null) {
            // loading a multi-GB checkpoint takes long and unevenly: meet under spark.barrier.sync.timeout,
            // not in a ring collective (--collective-timeout)
            SparkBarriers.barrier(ctx);
            if (replica.loadedFrom() != null) {
                agree(ring, replica.loadedFrom(), "loaded checkpoint"); // all ranks resumed from the same one
            }
            OutputStream progressOut = progress == null ? null : progress.getOutputStream();
            send(progressOut, event("start", replica.step(), Map.of("rank", rank, "world_size", n,
                    "resumed_from", resumedFrom[0], "attempt", ctx.stageAttemptNumber(), "threads", threads)));
            long t0 = System.nanoTime();
            long windowStart = replica.step();
            while (replica.step() < limits.maxSteps()) {
                faults.beforeStep(run, rank, replica.step() + 1);
                ObjectNode m = replica.trainStep();
                long step = replica.step();
                String diverged = divergence(m, step, run);
                if (diverged != null) {
                    // the driver stops the job: every retry from the last checkpoint would diverge again
                    send(progressOut, event("diverged", step, Map.of("message", diverged)));
                    throw new TrainingDivergedException(diverged);
                }
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
                    StepLoop sharded = replica.stepLoop() != null && replica.stepLoop().sharded() ? replica.stepLoop()
                            : null;
                    if (rank == 0) {
                        if (sharded != null) { // the others send their optimizer moments once the model file is written
                            sharded.beginStream(() -> SparkBarriers.barrier(ctx));
                        }
                        checkpoint(run, faults, replica, step, sha, n, limits.keepCheckpoints(), progressOut);
                        if (sharded != null) {
                            sharded.endStream();
                        }
                    } else if (sharded != null) {
                        sharded.serveOptimizerState(() -> SparkBarriers.barrier(ctx));
                    }
                    // the other ranks wait here, not in a ring collective: a multi-GB checkpoint written to an
                    // object store does not trip --collective-timeout (spark.barrier.sync.timeout applies)
                    SparkBarriers.barrier(ctx);
                    t0 = System.nanoTime(); // the wait is not training time
                }
            }
            ObjectNode done = event("done", replica.step(), Map.of("rank", rank, "weights_sha256", replica.weightsSha()));
            send(progressOut, done);
            return done.toString();
        }
    }

    /**
     * This rank's replica from the newest complete checkpoint that loads (every SHA-256 checked;
     * one that fails is skipped with a warning naming it), else from the seed.
     *
     * @param resumedFrom receives the URI of the checkpoint loaded, or keeps "seed"
     */
    private TrainingStage.Replica open(RunDirectory run, TcpRingCollective ring, Configuration conf, NDManager manager,
            String[] resumedFrom) throws IOException {
        List<Long> complete = run.completeSteps();
        for (long step : complete) {
            CheckpointDir dir = run.checkpoint(step);
            try {
                TrainingStage.Replica r = stage.open(ring, manager, conf, Optional.of(dir));
                resumedFrom[0] = dir.uri();
                return r;
            } catch (CheckpointException e) {
                TrainingJob.LOG.warn("rank {}: skipping checkpoint {} that fails verification: {}", ring.rank(),
                        dir.uri(), e.getMessage());
            }
        }
        if (!complete.isEmpty()) {
            TrainingJob.LOG.warn("rank {}: no checkpoint of {} loads; training from the seed", ring.rank(), runUri);
        }
        return stage.open(ring, manager, conf, Optional.empty());
    }

    /**
     * Rank 0: writes the checkpoint of {@code step} in place (manifest last, {@link RunDirectory}),
     * prunes old ones, plots, and reports it to the driver.
     */
    private static void checkpoint(RunDirectory run, FaultInjection faults, TrainingStage.Replica replica, long step,
            String sha, int worldSize, int keep, OutputStream progressOut) throws IOException {
        long t = System.nanoTime();
        CheckpointDir dir = faults.checkpoint(run, 0, step, run.beginCheckpoint(step));
        ObjectNode state = JSON.createObjectNode();
        state.put("step", step);
        state.put("weights_sha256", sha);
        state.put("world_size", worldSize);
        replica.save(dir, state);
        run.commitCheckpoint(step, keep);
        double seconds = (System.nanoTime() - t) / 1e9;
        try (NoGrad inference = NoGrad.enter()) { // eval-mode passes only: no graph over the trained weights
            replica.afterCommit(run, step);
        } catch (IOException | RuntimeException e) {
            TrainingJob.LOG.warn("plots of step {} failed: {}", step, e.toString());
        }
        send(progressOut, event("checkpoint", step, Map.of("uri", dir.uri(), "weights_sha256", sha,
                "write_seconds", Math.round(seconds * 1000) / 1000.0)));
    }

    /**
     * Why a run must stop after this step, or null: its loss or gradient norm (all-reduced, the same
     * on every rank) is no longer finite, so the optimizer would turn every weight into NaN and the
     * next checkpoints would be worthless. The last committed checkpoint stays as it is.
     *
     * @param metrics the step's metrics ({@code loss}, {@code grad_norm})
     * @return the one-line message naming the step, the values, the intact checkpoint and what to change
     */
    static String divergence(ObjectNode metrics, long step, RunDirectory run) throws IOException {
        double loss = metrics.path("loss").asDouble(Double.NaN);
        double norm = metrics.path("grad_norm").asDouble(0);
        if (Double.isFinite(loss) && Double.isFinite(norm)) {
            return null;
        }
        List<Long> kept = run.committedSteps();
        return String.format(Locale.ROOT, "training diverged at step %d of %s: loss %s, gradient norm %s; the last"
                + " committed checkpoint (%s) is intact. Lower train.lr or set train.grad_clip_norm, then rerun"
                + " with a new --out", step, run.uri(), loss, norm,
                kept.isEmpty() ? "none yet" : "step " + kept.get(kept.size() - 1));
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

}
