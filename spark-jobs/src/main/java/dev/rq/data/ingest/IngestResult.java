package dev.rq.data.ingest;

import java.io.Serializable;

/**
 * Outcome for one {@link SourceRecord}.
 *
 * @param sortKey the record's sort key
 * @param path source path or key
 * @param bytes bytes to store (original, or re-encoded after a resize); null when rejected
 * @param label class id or -1
 * @param size source size in bytes
 * @param reason reject reason code, or null when accepted
 * @param detail reject detail, or null
 */
public record IngestResult(
        String sortKey, String path, byte[] bytes, long label, long size, String reason,
        String detail)
        implements Serializable {

    /** Whether the unit becomes a dataset row. */
    public boolean accepted() {
        return reason == null;
    }
}
