/**
 * The collective-communication seam between the model library and the data-parallel trainer:
 * {@link dev.rq.model.distributed.Collective} with a no-op single-process implementation. The
 * Spark barrier-mode TCP implementation lives in the spark-jobs module.
 */
package dev.rq.model.distributed;
