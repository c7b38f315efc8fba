/**
 * The training batch loader: a seeded, worker-count-independent global sample order per epoch,
 * contiguous per-rank slices of each global batch, background decode + augmentation, and resume
 * from a {@link dev.rq.data.loader.Cursor}. Pure Java + parquet-hadoop (no SparkSession), so it can
 * run inside a Spark task.
 */
package dev.rq.data.loader;
