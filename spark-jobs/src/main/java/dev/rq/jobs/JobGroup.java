package dev.rq.jobs;

import org.apache.spark.SparkContext;
import org.apache.spark.sql.SparkSession;

/**
 * Runs a job's Spark work under a named job group (shown in the Spark UI, cancellable as one with
 * {@code SparkContext.cancelJobGroup}), restoring the caller's group afterwards, so a job started
 * from a notebook or another job does not clear its caller's group (shape: Iceberg's {@code
 * BaseSparkAction.withJobGroupInfo}). First it checks that the session's settings can run the
 * project's jobs ({@link SparkSessions#check}): a session the user built fails with the key to
 * change, before any work.
 *
 * <pre>{@code
 * return JobGroup.run(spark, "rq-tokenize", "rq tokenize data -> out", false, () -> doRun(spark, o));
 * }</pre>
 */
public final class JobGroup {

    private static final String ID = "spark.jobGroup.id";
    private static final String DESCRIPTION = "spark.job.description";
    private static final String INTERRUPT = "spark.job.interruptOnCancel";

    private JobGroup() {}

    /** Work that may throw a checked exception of type {@code E}. */
    @FunctionalInterface
    public interface Work<T, E extends Exception> {
        T call() throws E;
    }

    /**
     * Runs {@code work} with the job group {@code id}.
     *
     * @param interruptOnCancel whether cancelling the group interrupts the tasks' threads
     */
    public static <T, E extends Exception> T run(SparkSession spark, String id, String description,
            boolean interruptOnCancel, Work<T, E> work) throws E {
        SparkContext sc = spark.sparkContext();
        SparkSessions.check(sc.getConf());
        String oldId = sc.getLocalProperty(ID);
        String oldDescription = sc.getLocalProperty(DESCRIPTION);
        String oldInterrupt = sc.getLocalProperty(INTERRUPT);
        sc.setJobGroup(id, description, interruptOnCancel);
        try {
            return work.call();
        } finally {
            sc.setLocalProperty(ID, oldId);
            sc.setLocalProperty(DESCRIPTION, oldDescription);
            sc.setLocalProperty(INTERRUPT, oldInterrupt);
        }
    }
}
