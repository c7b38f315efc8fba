package dev.rq.jobs.train;

/**
 * A training run stopped because a step's loss or gradient norm was not finite. Retrying from the
 * last checkpoint would diverge again the same way, so the driver does not resubmit; the message
 * names the step, the values, the intact checkpoint and the settings to change (a user error for
 * the {@code rq} CLI: exit 2).
 */
public final class TrainingDivergedException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** @param message what diverged, where, what is intact and what to change */
    public TrainingDivergedException(String message) {
        super(message);
    }
}
