package dev.rq.jobs.train;

/**
 * The run directory given as {@code --out} holds another run (another kind or configuration):
 * nothing is overwritten. A user error for the {@code rq} CLI (exit 2): use another {@code --out},
 * or the same configuration to resume.
 */
public final class RunConflictException extends IllegalStateException {

    private static final long serialVersionUID = 1L;

    /** @param message which directory, what it holds, what to do */
    public RunConflictException(String message) {
        super(message);
    }
}
