package dev.rq.collective;

/**
 * A collective operation or the ring setup failed: a peer closed its connection, sent something
 * unexpected, rejected the handshake, or the caller was cancelled. Once thrown by a
 * {@link TcpRingCollective}, that instance is broken (its sockets are closed, which makes every
 * other rank fail fast too) and every later call throws again; the caller is expected to abort
 * the task so that Spark retries the whole barrier stage.
 */
public class CollectiveException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String operation;
    private final int peerRank;

    /**
     * @param message what went wrong (already prefixed with this rank and the operation)
     * @param operation the operation in progress, e.g. {@code "allReduceSum(float[]) #7"} or {@code "setup"}
     * @param peerRank the peer the failure is attributed to, or -1 if none
     * @param cause the underlying I/O error, or null
     */
    public CollectiveException(String message, String operation, int peerRank, Throwable cause) {
        super(message, cause);
        this.operation = operation;
        this.peerRank = peerRank;
    }

    /** @return the operation in progress when the failure happened */
    public String operation() {
        return operation;
    }

    /** @return the rank of the peer the failure is attributed to, or -1 if none */
    public int peerRank() {
        return peerRank;
    }
}
