package dev.rq.jobs.distributed;

import dev.rq.collective.TcpRingCollective;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.BarrierTaskInfo;
import org.apache.spark.SparkEnv;
import org.apache.spark.util.TaskCompletionListener;

/**
 * Builds the {@link TcpRingCollective} of a Spark barrier task: one rank per task.
 *
 * <ul>
 *   <li>rank = {@code ctx.partitionId()}, N = {@code ctx.getTaskInfos().length} (all tasks of the
 *       barrier stage);
 *   <li>attempt = {@code ctx.stageAttemptNumber()}, so tasks of an earlier (zombie) attempt of the
 *       stage cannot join a retried ring; {@code runToken} should identify the run, e.g. the
 *       application id plus a UUID made on the driver, so other runs cannot join either;
 *   <li>listening host = the executor's host as Spark sees it (from the task infos, else the block
 *       manager's host), unless given explicitly (multi-homed hosts);
 *   <li>rendezvous = {@link SparkBarrierRendezvous} (one {@code allGather} call on every task);
 *   <li>cancellation = {@code ctx.isInterrupted()} (task killed, stage aborted), polled every
 *       100 ms inside blocking calls;
 *   <li>listening ports, idle and setup time-outs = {@link RingSettings};
 *   <li>the collective is closed automatically when the task completes (success or failure).
 * </ul>
 * Must be called by every task of the barrier stage, once per stage attempt.
 */
public final class BarrierCollectives {

    private BarrierCollectives() {}

    /**
     * @param ctx the running barrier task ({@code BarrierTaskContext.get()})
     * @param runToken identifies the run; all tasks must pass the same value (the peers' shared secret
     *     is derived from it)
     * @param settings listening ports and time-outs
     * @return this task's connected ring member
     */
    public static TcpRingCollective create(BarrierTaskContext ctx, String runToken, RingSettings settings) {
        return create(ctx, runToken, settings, executorHost(ctx));
    }

    /**
     * Like {@link #create(BarrierTaskContext, String, RingSettings)}, summing in the ranks' tree order
     * ({@link TcpRingCollective.Builder#treeOrder}) when {@code treeOrder}.
     */
    public static TcpRingCollective create(BarrierTaskContext ctx, String runToken, RingSettings settings,
            boolean treeOrder) {
        return create(ctx, runToken, settings, executorHost(ctx), treeOrder);
    }

    /** Like {@link #create(BarrierTaskContext, String, RingSettings)}, listening on {@code host}. */
    public static TcpRingCollective create(BarrierTaskContext ctx, String runToken, RingSettings settings,
            String host) {
        return create(ctx, runToken, settings, host, false);
    }

    private static TcpRingCollective create(BarrierTaskContext ctx, String runToken, RingSettings settings,
            String host, boolean treeOrder) {
        TcpRingCollective collective = TcpRingCollective.builder()
                .rank(ctx.partitionId())
                .worldSize(ctx.getTaskInfos().length)
                .host(host)
                .rendezvous(new SparkBarrierRendezvous(ctx))
                .runToken(runToken)
                .attempt(ctx.stageAttemptNumber())
                .timeout(settings.timeout())
                .setupTimeout(settings.setupTimeout())
                .ports(settings.ringPorts())
                .cancelled(ctx::isInterrupted)
                .treeOrder(treeOrder)
                .connect();
        ctx.addTaskCompletionListener((TaskCompletionListener) c -> collective.close());
        return collective;
    }

    /** @return the host of the executor running this task, as the driver addresses it */
    static String executorHost(BarrierTaskContext ctx) {
        BarrierTaskInfo[] infos = ctx.getTaskInfos();
        int p = ctx.partitionId();
        if (p < infos.length && infos[p] != null && infos[p].address() != null && !infos[p].address().isEmpty()) {
            return hostOf(infos[p].address());
        }
        return SparkEnv.get().blockManager().blockManagerId().host();
    }

    /** @return the host part of {@code host:port}, {@code [v6]:port}, or a bare host */
    static String hostOf(String address) {
        if (address.startsWith("[")) {
            int close = address.indexOf(']');
            return close > 0 ? address.substring(1, close) : address;
        }
        int colon = address.indexOf(':');
        return colon > 0 && colon == address.lastIndexOf(':') ? address.substring(0, colon) : address;
    }
}
