package dev.rq.data.loader;

import dev.rq.tables.TokenBlock;
import dev.rq.tables.TokenSplit;
import java.io.IOException;

/** The row groups of a token table split as loader blocks (codes, labels and optionally latents). */
public final class TokenBlocks implements BlockSource<TokenBlock> {

    private final TokenSplit split;
    private final boolean withLatents;
    private final BlockIndex index;

    /**
     * @param split the split
     * @param withLatents also read the latents (soft targets)
     */
    public TokenBlocks(TokenSplit split, boolean withLatents) {
        this.split = split;
        this.withLatents = withLatents;
        long[] rows = split.blockRows();
        long[] heap = new long[rows.length];
        for (int b = 0; b < rows.length; b++) {
            heap[b] = rows[b] * split.rowHeapBytes(withLatents) + 64;
        }
        this.index = BlockIndex.of(rows, heap);
    }

    public TokenSplit split() {
        return split;
    }

    @Override
    public BlockIndex index() {
        return index;
    }

    @Override
    public TokenBlock read(int block) throws IOException {
        return split.read(block, withLatents);
    }

    @Override
    public long heapBytes(TokenBlock block) {
        return block.heapBytes();
    }
}
