/**
 * Image data for rq: the canonical Parquet dataset format ({@link dev.rq.data.dataset}), robust
 * image decoding and PIL-compatible resampling ({@link dev.rq.data.image}), ingest of ImageFolder,
 * WebDataset and foreign Parquet inputs ({@link dev.rq.data.ingest}) and the N-independent
 * training batch loader ({@link dev.rq.data.loader}). See {@code docs/data.md}.
 */
package dev.rq.data;
