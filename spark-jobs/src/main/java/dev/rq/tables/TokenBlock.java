package dev.rq.tables;

/**
 * The rows of one block (Parquet row group) of a token table split, as read by {@link TokenSplit}.
 *
 * @param firstIndex global row index of the first row
 * @param codesPerRow H·W·D
 * @param codes {@code [rows, H·W·D]} codes, index {@code (h*W + w)*D + d} within a row
 * @param labels class ids ({@code -1} = unknown)
 * @param latents {@code [rows, h, w, C]} float16 little-endian pre-quantization latents, or null
 * @param latentBytes bytes of one row's latents (0 without)
 */
public record TokenBlock(long firstIndex, int codesPerRow, int[] codes, long[] labels, byte[] latents,
        int latentBytes) {

    /** @return rows in the block */
    public int size() {
        return labels.length;
    }

    /** @return heap bytes held */
    public long heapBytes() {
        return 4L * codes.length + 8L * labels.length + (latents == null ? 0 : latents.length) + 64;
    }
}
