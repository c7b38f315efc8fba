package dev.rq.data.ingest;

import dev.rq.data.image.RejectReason;
import java.io.Serializable;

/**
 * One input unit of an ingest: an ImageFolder file, a WebDataset sample or a foreign Parquet row.
 * Every unit read becomes exactly one accepted row or one reject.
 *
 * @param sortKey deterministic key that orders rows inside a shard and picks the shard (hash)
 * @param path source path or key, stored as {@code image.path} / rejects {@code path}
 * @param bytes encoded image, or null when {@code preReject} is set
 * @param label class id, or -1
 * @param size size in bytes of the unit (file size; 0 when unknown)
 * @param preReject reason decided before decoding (outside class folder, no image, …), or null
 * @param detail detail for {@code preReject}, or null
 */
public record SourceRecord(
        String sortKey,
        String path,
        byte[] bytes,
        long label,
        long size,
        RejectReason preReject,
        String detail)
        implements Serializable {

    /** An image unit to validate. */
    public static SourceRecord image(String sortKey, String path, byte[] bytes, long label) {
        return new SourceRecord(sortKey, path, bytes, label, bytes == null ? 0 : bytes.length,
                null, null);
    }

    /** A unit rejected before decoding. */
    public static SourceRecord rejected(String sortKey, String path, long size,
            RejectReason reason, String detail) {
        return new SourceRecord(sortKey, path, null, -1L, size, reason, detail);
    }
}
