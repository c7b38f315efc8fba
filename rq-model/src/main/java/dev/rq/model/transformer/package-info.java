/**
 * The RQ-Transformer (stage 2): the official model ({@link dev.rq.model.transformer.RqTransformer}),
 * its losses, the data-parallel training step ({@link dev.rq.model.transformer.TransformerTrainer})
 * and checkpoints ({@link dev.rq.model.transformer.TransformerCheckpoint}).
 */
package dev.rq.model.transformer;
