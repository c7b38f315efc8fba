/**
 * Semantic IDs for items: an RQ-VAE over item embedding vectors ({@link dev.rq.model.sid.SidModel},
 * the TIGER recipe) and the residual k-means baseline ({@link dev.rq.model.sid.RqKMeans}), both
 * behind {@link dev.rq.model.sid.SidCoder} (embeddings → D codes, codes → reconstruction), their
 * k-means initialisation ({@link dev.rq.model.sid.SidInit}), checkpoints ({@link
 * dev.rq.model.sid.SidCheckpoint}) and a synthetic item generator ({@link
 * dev.rq.model.sid.SyntheticItems}).
 */
package dev.rq.model.sid;
