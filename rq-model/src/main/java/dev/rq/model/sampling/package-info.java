/**
 * Autoregressive sampling of code stacks with key/value caches ({@link dev.rq.model.sampling.RqSampler})
 * and the official temperature / top-k / top-p rule ({@link dev.rq.model.sampling.LogitSampler}).
 */
package dev.rq.model.sampling;
