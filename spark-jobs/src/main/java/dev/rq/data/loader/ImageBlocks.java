package dev.rq.data.loader;

import dev.rq.data.dataset.CanonicalDataset;
import java.io.IOException;

/** The row groups of a canonical image dataset split as loader blocks. */
public final class ImageBlocks implements BlockSource<CanonicalDataset.RowGroup> {

    private final CanonicalDataset dataset;
    private final BlockIndex index;

    public ImageBlocks(CanonicalDataset dataset) {
        this.dataset = dataset;
        long[][] sizes = dataset.blockSizes();
        this.index = BlockIndex.of(sizes[0], sizes[1]);
    }

    public CanonicalDataset dataset() {
        return dataset;
    }

    @Override
    public BlockIndex index() {
        return index;
    }

    @Override
    public CanonicalDataset.RowGroup read(int block) throws IOException {
        return dataset.readBlock(block);
    }

    @Override
    public long heapBytes(CanonicalDataset.RowGroup block) {
        return block.heapBytes();
    }
}
