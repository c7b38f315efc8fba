/**
 * Checkpoints: official-key safetensors weights, optimizer state and a checksummed, versioned
 * {@code manifest.json} written last ({@link dev.rq.model.checkpoint.Checkpoints}).
 */
package dev.rq.model.checkpoint;
