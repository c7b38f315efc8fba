package dev.rq.model.checkpoint;

/** A checkpoint that cannot be used: missing file, checksum or size mismatch, unknown format. */
public final class CheckpointException extends RuntimeException {
    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
