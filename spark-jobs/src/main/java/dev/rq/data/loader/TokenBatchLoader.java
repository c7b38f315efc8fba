package dev.rq.data.loader;

import dev.rq.tables.TokenBlock;
import dev.rq.tables.TokenSplit;

/**
 * Iterates one rank's slices of the global batches of token-table rows (stage 2), in the same
 * N-independent order as images ({@link EpochPlan}); blocks are read ahead in the background
 * within the cache budget ({@link BlockStream}), rows are copied out on the calling thread.
 * Heap: the cache budget plus one batch, whatever the size of the table.
 */
public final class TokenBatchLoader implements AutoCloseable {

    private final BlockStream<TokenBlock> stream;
    private final int codesPerRow;
    private Cursor cursor;

    /**
     * @param split the table split
     * @param config loader settings
     * @param withLatents also read the latents
     * @param seed run seed
     * @param rank this rank
     * @param worldSize N
     * @param start first batch
     * @param endEpoch no block of this epoch or later is read
     */
    public TokenBatchLoader(TokenSplit split, LoaderConfig config, boolean withLatents, long seed, int rank,
            int worldSize, Cursor start, int endEpoch) {
        TokenBlocks source = new TokenBlocks(split, withLatents);
        this.stream = new BlockStream<>(source, config.plan(source.index(), seed), rank, worldSize,
                config.cacheBytes(), config.readThreads(), start, endEpoch);
        this.codesPerRow = split.manifest().codesLength();
        this.cursor = start;
    }

    /** @return global batches per epoch */
    public long stepsPerEpoch() {
        return stream.stepsPerEpoch();
    }

    /** @return the cursor of the batch {@link #next} returns */
    public Cursor cursor() {
        return cursor;
    }

    /** @return the block stream (read statistics) */
    public BlockStream<TokenBlock> stream() {
        return stream;
    }

    /** @return this rank's rows of the next global batch */
    public TokenBatch next() {
        BlockStream.Slice<TokenBlock> s = stream.open(cursor);
        int n = s.indices().length;
        long[] labels = new long[n];
        int[] codes = new int[n * codesPerRow];
        byte[] latents = null;
        int latentBytes = 0;
        for (int j = 0; j < n; j++) {
            TokenBlock b = s.block(j);
            int row = s.rows()[j];
            labels[j] = b.labels()[row];
            System.arraycopy(b.codes(), row * codesPerRow, codes, j * codesPerRow, codesPerRow);
            if (b.latents() != null) {
                if (latents == null) {
                    latentBytes = b.latentBytes();
                    latents = new byte[n * latentBytes];
                }
                System.arraycopy(b.latents(), row * latentBytes, latents, j * latentBytes, latentBytes);
            }
        }
        stream.done(cursor);
        Cursor c = cursor;
        cursor = cursor.next(stream.stepsPerEpoch());
        return new TokenBatch(c, cursor, s.indices(), labels, codes, codesPerRow, latents, latentBytes);
    }

    @Override
    public void close() {
        stream.close();
    }
}
