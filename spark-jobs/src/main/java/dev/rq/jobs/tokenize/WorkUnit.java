package dev.rq.jobs.tokenize;

import java.io.Serializable;

/**
 * One task's input: rows {@code [from, to)} of one row group of one shard of a split.
 *
 * @param split split name
 * @param splitUri split folder URI
 * @param splitVersion identifies the split's content (sidecar timestamp and row count), for executor caches
 * @param shard shard index in the split's sidecar
 * @param shardRel shard file relative to the dataset root ({@code train/train-00000-of-00001.parquet})
 * @param rowGroup row group index in the shard
 * @param groupFirstRow row index (in the shard) of the row group's first row
 * @param from first row, relative to the row group
 * @param to end row (exclusive), relative to the row group
 */
public record WorkUnit(String split, String splitUri, String splitVersion, int shard, String shardRel, int rowGroup,
        long groupFirstRow, int from, int to) implements Serializable {

    /** @return number of images */
    public int rows() {
        return to - from;
    }
}
