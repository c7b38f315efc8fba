/** Benchmarks behind {@code rq bench}: images per second for tokenization and training steps. */
package dev.rq.model.bench;
