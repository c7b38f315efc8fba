package dev.rq.data.loader;

import java.io.IOException;

/**
 * A table read one storage block (Parquet row group) at a time: what the loader needs from a
 * dataset format. Implementations: {@link ImageBlocks} (canonical image datasets) and {@link
 * TokenBlocks} (token tables).
 *
 * @param <T> a block's rows in memory
 */
public interface BlockSource<T> {

    /** @return the blocks, their row counts and heap-size estimates, in global row order */
    BlockIndex index();

    /**
     * Reads one block (thread-safe).
     *
     * @throws IOException naming the file and block when it cannot be read
     */
    T read(int block) throws IOException;

    /** @return heap bytes held by a block read by {@link #read} */
    long heapBytes(T block);
}
