package dev.rq.pipelines.quickstart;

/**
 * The result of a training stage (the RQ-VAE of {@code train}, the RQ-Transformer of {@code
 * train-transformer}), as later stages use it.
 *
 * @param runUri the run directory
 * @param finalCheckpoint URI of its final checkpoint
 * @param steps optimizer steps of that checkpoint
 * @param modelSha256 SHA-256 of that checkpoint's {@code model.safetensors} (from its verified
 *     manifest): later stages redo their work only for another model
 */
record Trained(String runUri, String finalCheckpoint, long steps, String modelSha256) {}
