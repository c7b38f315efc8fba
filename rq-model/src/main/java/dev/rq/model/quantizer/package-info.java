/**
 * Residual quantization: EMA codebooks with Laplace smoothing and restarts ({@link
 * dev.rq.model.quantizer.VqCodebook}) and the depth loop with the cumulative commitment loss
 * ({@link dev.rq.model.quantizer.ResidualQuantizer}).
 */
package dev.rq.model.quantizer;
