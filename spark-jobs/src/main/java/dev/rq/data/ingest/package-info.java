/**
 * Spark-independent parts of the ingest: input units ({@link dev.rq.data.ingest.SourceRecord}),
 * ImageFolder listing, WebDataset tar parsing and per-unit validation / optional resize ({@link
 * dev.rq.data.ingest.IngestProcessor}). The Spark job is {@code dev.rq.jobs.IngestJob}.
 */
package dev.rq.data.ingest;
