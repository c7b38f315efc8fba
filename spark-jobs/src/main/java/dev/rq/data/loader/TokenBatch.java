package dev.rq.data.loader;

/**
 * One rank's slice of a global batch of token-table rows.
 *
 * @param cursor the (epoch, step) of this batch
 * @param next the cursor of the following batch (save it to resume after this batch)
 * @param indices global row indices, length {@code b = B / N}
 * @param labels class ids ({@code -1} = unknown), length {@code b}
 * @param codes {@code [b, H·W·D]} codes
 * @param codesPerRow H·W·D
 * @param latents {@code [b, h, w, C]} float16 little-endian latents, or null
 * @param latentBytes bytes of one row's latents (0 without)
 */
public record TokenBatch(Cursor cursor, Cursor next, long[] indices, long[] labels, int[] codes, int codesPerRow,
        byte[] latents, int latentBytes) {

    /** @return rows in this slice */
    public int size() {
        return indices.length;
    }
}
