package dev.rq.data.loader;

import java.io.Serializable;

/**
 * The rows of a table in global index order, grouped into its storage blocks (Parquet row
 * groups, the unit of I/O): block {@code b} holds global rows {@code [start(b), start(b+1))}. Each
 * block also carries an estimate of its heap size once read, for cache budgets.
 *
 * <p>Memory: two longs per block (ImageNet at 8 MiB row groups: about 17,000 blocks, 270 KB).
 */
public final class BlockIndex implements Serializable {

    private static final long serialVersionUID = 1L;

    private final long[] start; // length blocks + 1
    private final long[] heapBytes;
    private final long maxRows;

    private BlockIndex(long[] start, long[] heapBytes) {
        this.start = start;
        this.heapBytes = heapBytes;
        long m = 0;
        for (int b = 0; b < heapBytes.length; b++) {
            m = Math.max(m, start[b + 1] - start[b]);
        }
        this.maxRows = m;
    }

    /**
     * @param rows rows of each block, in global order
     * @param heapBytes estimated heap bytes of each block once read
     */
    public static BlockIndex of(long[] rows, long[] heapBytes) {
        if (rows.length != heapBytes.length) {
            throw new IllegalArgumentException(rows.length + " row counts, " + heapBytes.length + " sizes");
        }
        long[] start = new long[rows.length + 1];
        for (int b = 0; b < rows.length; b++) {
            if (rows[b] < 0 || heapBytes[b] < 0) {
                throw new IllegalArgumentException("block " + b + ": negative size");
            }
            start[b + 1] = start[b] + rows[b];
        }
        return new BlockIndex(start, heapBytes.clone());
    }

    public int numBlocks() {
        return heapBytes.length;
    }

    public long numRows() {
        return start[start.length - 1];
    }

    /** @return global index of block {@code b}'s first row */
    public long start(int b) {
        return start[b];
    }

    /** @return rows of block {@code b} */
    public long rows(int b) {
        return start[b + 1] - start[b];
    }

    /** @return estimated heap bytes of block {@code b} */
    public long heapBytes(int b) {
        return heapBytes[b];
    }

    /** @return rows of the largest block */
    public long maxRows() {
        return maxRows;
    }

    /** @return estimated heap bytes of all blocks */
    public long totalHeapBytes() {
        long t = 0;
        for (long h : heapBytes) {
            t += h;
        }
        return t;
    }

    /** @return estimated heap bytes per row, averaged over the table (0 when empty) */
    public double meanRowBytes() {
        return numRows() == 0 ? 0 : (double) totalHeapBytes() / numRows();
    }

    /** @return the block holding global row {@code index} */
    public int blockOf(long index) {
        if (index < 0 || index >= numRows()) {
            throw new IndexOutOfBoundsException("row " + index + " of " + numRows());
        }
        int lo = 0;
        int hi = heapBytes.length - 1;
        while (lo < hi) { // largest b with start[b] <= index (empty blocks skipped by taking the last)
            int mid = (lo + hi + 1) >>> 1;
            if (start[mid] <= index) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }
}
