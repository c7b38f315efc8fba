/**
 * Item embedding tables for semantic IDs: reading and checking an item table ({@link
 * dev.rq.data.items.ItemInput}: id, embedding and label columns, row checks with reject reasons,
 * duplicate ids), the prepared copy a training run reads ({@link dev.rq.data.items.PreparedItems})
 * and its N-independent streaming batches ({@link dev.rq.data.items.ItemBatches}). See {@code
 * docs/semantic-ids.md}.
 */
package dev.rq.data.items;
