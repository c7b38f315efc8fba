package dev.rq.data.loader;

/**
 * One rank's slice of a global batch.
 *
 * @param cursor the (epoch, step) of this batch
 * @param next the cursor of the following batch (save it to resume after this batch)
 * @param rank this worker's rank
 * @param worldSize number of workers
 * @param indices global sample (row) indices, length {@code b = B / N}
 * @param labels labels ({@code -1} = unknown), length {@code b}
 * @param images NCHW floats in [-1, 1], shape {@code [b, 3, S, S]}, row-major
 * @param imageSize S
 */
public record Batch(
        Cursor cursor,
        Cursor next,
        int rank,
        int worldSize,
        long[] indices,
        long[] labels,
        float[] images,
        int imageSize) {

    /** Number of images in this slice. */
    public int size() {
        return indices.length;
    }

    /** Shape {@code [b, 3, S, S]}. */
    public long[] shape() {
        return new long[] {indices.length, 3, imageSize, imageSize};
    }
}
