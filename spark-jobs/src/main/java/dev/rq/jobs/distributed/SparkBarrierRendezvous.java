package dev.rq.jobs.distributed;

import dev.rq.collective.CollectiveException;
import dev.rq.collective.Rendezvous;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.BarrierTaskContext;

/**
 * A {@link Rendezvous} through the Spark driver: {@link BarrierTaskContext#allGather(String)}
 * (a barrier-coordinator RPC, bounded by {@code spark.barrier.sync.timeout}).
 *
 * <p>Each task sends {@code "<partitionId>|<address>"}; the answer is checked to hold exactly one
 * message per partition, in partition order (which Spark guarantees), and the addresses are
 * returned indexed by rank = partition id. Like every barrier call, this must be made the same
 * number of times, in the same order, by all tasks of the stage.
 */
public final class SparkBarrierRendezvous implements Rendezvous {

    private final BarrierTaskContext ctx;

    /** @param ctx the context of the running barrier task */
    public SparkBarrierRendezvous(BarrierTaskContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public List<String> allGather(String myAddress) {
        String[] messages = SparkBarriers.allGather(ctx, ctx.partitionId() + "|" + myAddress);
        List<String> addresses = new ArrayList<>(messages.length);
        for (int i = 0; i < messages.length; i++) {
            String m = messages[i];
            int bar = m.indexOf('|');
            if (bar < 0 || !m.substring(0, bar).equals(Integer.toString(i))) {
                throw new CollectiveException("[rank " + ctx.partitionId() + "] rendezvous: message " + i
                        + " is not from partition " + i + ": " + m, "rendezvous", -1, null);
            }
            addresses.add(m.substring(bar + 1));
        }
        return addresses;
    }
}
