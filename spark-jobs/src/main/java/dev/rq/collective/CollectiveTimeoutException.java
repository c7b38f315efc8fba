package dev.rq.collective;

/**
 * A peer made no progress (sent or accepted no bytes, or did not complete the handshake) within
 * the configured timeout: it is hung, dead without a TCP reset, or far behind the other ranks.
 */
public class CollectiveTimeoutException extends CollectiveException {

    private static final long serialVersionUID = 1L;

    /** See {@link CollectiveException#CollectiveException(String, String, int, Throwable)}. */
    public CollectiveTimeoutException(String message, String operation, int peerRank) {
        super(message, operation, peerRank, null);
    }
}
