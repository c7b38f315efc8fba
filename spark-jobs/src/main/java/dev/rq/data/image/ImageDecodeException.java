package dev.rq.data.image;

/** An image could not be decoded; {@link #reason()} says why in a stable, countable form. */
public final class ImageDecodeException extends Exception {
    private static final long serialVersionUID = 1L;

    private final RejectReason reason;

    /**
     * @param reason the reject reason code
     * @param message human-readable detail
     * @param cause the underlying decoder exception, or null
     */
    public ImageDecodeException(RejectReason reason, String message, Throwable cause) {
        super(reason.code() + ": " + message, cause);
        this.reason = reason;
    }

    public ImageDecodeException(RejectReason reason, String message) {
        this(reason, message, null);
    }

    /** The reject reason. */
    public RejectReason reason() {
        return reason;
    }
}
