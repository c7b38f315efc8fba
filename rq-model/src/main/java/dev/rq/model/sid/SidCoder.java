package dev.rq.model.sid;

import ai.djl.ndarray.NDArray;

/**
 * What turns item embeddings into semantic-ID codes and back: the RQ-VAE ({@link SidModel}) or
 * residual k-means ({@link RqKMeans}). Eval mode: no statistics change. Shapes: x [B, input_dim],
 * codes [B, D] int64 (level d in [0, K_d)), reconstruction [B, input_dim].
 */
public interface SidCoder extends AutoCloseable {

    /** @return the embedding dimension of the items */
    int inputDim();

    /** @return D, the number of code levels */
    int depth();

    /** @return K of level d */
    int codebookSize(int d);

    /** @return the width C of the code vectors */
    int codeDim();

    /**
     * @param x [B, input_dim]
     * @return codes [B, D] int64
     */
    NDArray codes(NDArray x);

    /**
     * @param codes [B, D] int64
     * @return reconstructed embeddings [B, input_dim]
     */
    NDArray reconstruct(NDArray codes);

    /** @return level d's code vectors [K_d, C] row-major */
    float[] codebook(int d);

    @Override
    void close();
}
