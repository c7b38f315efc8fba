package dev.rq.data.dataset;

import java.io.Serializable;

/**
 * Rows {@code [from, to)} of one row group of one shard of a split: the unit in which inference
 * jobs read a canonical dataset (a task reads its row groups in place, nothing is shuffled).
 *
 * @param split split name
 * @param splitUri split folder URI
 * @param splitVersion identifies the split's content (sidecar timestamp and row count), for executor caches
 * @param shard shard index in the split's sidecar
 * @param shardRel shard file relative to the dataset root ({@code val/val-00000-of-00001.parquet})
 * @param rowGroup row group index in the shard
 * @param groupFirstRow row index (in the shard) of the row group's first row
 * @param from first row, relative to the row group
 * @param to end row (exclusive), relative to the row group
 */
public record RowRange(String split, String splitUri, String splitVersion, int shard, String shardRel, int rowGroup,
        long groupFirstRow, int from, int to) implements Serializable {

    /** @return number of rows */
    public int rows() {
        return to - from;
    }

    /** @return this range cut to its first {@code n} rows */
    public RowRange head(int n) {
        return new RowRange(split, splitUri, splitVersion, shard, shardRel, rowGroup, groupFirstRow, from,
                Math.min(to, from + n));
    }
}
