package dev.rq.model.config;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * The semantic-ID model ({@code model} section of {@code conf/sid/*.yaml}): an RQ-VAE over item
 * embedding vectors (TIGER, Rajput et al. 2023, §3.1) or, with {@code method: rq-kmeans}, residual
 * k-means on the raw embeddings (no encoder).
 *
 * <p>Shapes: input x [B, input_dim] → MLP encoder (Linear + ReLU for each of {@code
 * encoder_dims}, then Linear to {@code latent_dim}) → z [B, latent_dim] → D = {@code depth}
 * residual levels of K codes → z_q → decoder (the encoder's layer sizes mirrored) → x̂ [B,
 * input_dim]. For rq-kmeans the levels quantize x itself (codebook vectors of {@code input_dim}).
 *
 * @param method {@code rqvae} (default) or {@code rq-kmeans}
 * @param inputDim embedding dimension of the items (checked against every input row)
 * @param encoderDims hidden layer widths of the encoder, e.g. [512, 256, 128]
 * @param latentDim width of the quantized latent (codebook vector size C)
 * @param activation hidden activation, {@code relu} (the only one implemented)
 * @param depth D, the number of code levels
 * @param codebookSize K: one value for every level, or one per level
 * @param sharedCodebook one codebook for all levels (rqvae only)
 * @param codebookUpdate {@code gradient} (codebook loss, TIGER) or {@code ema} (moving averages,
 *     as the image RQ-VAE)
 * @param decay EMA decay γ of the {@code ema} codebooks and of the code-usage counts that drive
 *     restarts
 * @param commitmentWeight β of the commitment loss
 * @param restartUnusedCodes re-seed codes whose usage count drops below 1 from the batch
 */
public record SidModelConfig(
        String method,
        Integer inputDim,
        List<Integer> encoderDims,
        Integer latentDim,
        String activation,
        Integer depth,
        List<Integer> codebookSize,
        Boolean sharedCodebook,
        String codebookUpdate,
        Double decay,
        Double commitmentWeight,
        Boolean restartUnusedCodes) implements Serializable {

    /** RQ-VAE over embeddings. */
    public static final String RQVAE = "rqvae";

    /** Residual k-means on the raw embeddings. */
    public static final String RQ_KMEANS = "rq-kmeans";

    private static final String P = "model.";

    public SidModelConfig {
        method = method == null ? RQVAE : method;
        ConfigException.required(inputDim, P + "input_dim");
        encoderDims = encoderDims == null ? List.of(512, 256, 128) : List.copyOf(encoderDims);
        latentDim = latentDim == null ? 32 : latentDim;
        activation = activation == null ? "relu" : activation;
        depth = depth == null ? 3 : depth;
        codebookSize = codebookSize == null ? List.of(256) : List.copyOf(codebookSize);
        sharedCodebook = sharedCodebook != null && sharedCodebook;
        codebookUpdate = codebookUpdate == null ? "gradient" : codebookUpdate;
        decay = decay == null ? 0.99 : decay;
        commitmentWeight = commitmentWeight == null ? 0.25 : commitmentWeight;
        restartUnusedCodes = restartUnusedCodes == null || restartUnusedCodes;
        ConfigException.require(method.equals(RQVAE) || method.equals(RQ_KMEANS), P + "method",
                "must be %s or %s, got %s", RQVAE, RQ_KMEANS, method);
        ConfigException.require(inputDim > 0, P + "input_dim", "must be positive, got %s", inputDim);
        for (int h : encoderDims) {
            ConfigException.require(h > 0, P + "encoder_dims", "entries must be positive, got %s", encoderDims);
        }
        ConfigException.require(latentDim > 0, P + "latent_dim", "must be positive, got %s", latentDim);
        ConfigException.require(activation.equals("relu"), P + "activation", "only relu is implemented, got %s",
                activation);
        ConfigException.require(depth > 0 && depth <= 26, P + "depth", "must be in [1, 26], got %s", depth);
        ConfigException.require(codebookSize.size() == 1 || codebookSize.size() == depth, P + "codebook_size",
                "must be one value or one per level (%s), got %s", depth, codebookSize);
        for (int k : codebookSize) {
            ConfigException.require(k > 1, P + "codebook_size", "entries must be at least 2, got %s", codebookSize);
        }
        ConfigException.require(!sharedCodebook || codebookSize.size() == 1, P + "shared_codebook",
                "needs one codebook_size, got %s", codebookSize);
        ConfigException.require(!sharedCodebook || method.equals(RQVAE), P + "shared_codebook",
                "is an rqvae option; rq-kmeans fits one codebook per level");
        ConfigException.require(codebookUpdate.equals("gradient") || codebookUpdate.equals("ema"),
                P + "codebook_update", "must be gradient or ema, got %s", codebookUpdate);
        ConfigException.require(decay > 0 && decay < 1, P + "decay", "must be in (0, 1), got %s", decay);
        ConfigException.require(commitmentWeight >= 0, P + "commitment_weight", "must be >= 0, got %s",
                commitmentWeight);
    }

    /** @return K of level {@code d} */
    public int codebookSize(int d) {
        return codebookSize.size() == 1 ? codebookSize.get(0) : codebookSize.get(d);
    }

    /** @return K per level */
    public int[] codebookSizes() {
        int[] k = new int[depth];
        for (int d = 0; d < depth; d++) {
            k[d] = codebookSize(d);
        }
        return k;
    }

    /** @return true for residual k-means (no encoder) */
    @com.fasterxml.jackson.annotation.JsonIgnore // derived, not a config key
    public boolean isKMeans() {
        return method.equals(RQ_KMEANS);
    }

    /** @return the width C of the quantized vectors: latent_dim, or input_dim for rq-kmeans */
    public int codeDim() {
        return isKMeans() ? inputDim : latentDim;
    }

    /** @return the encoder's layer widths from input to latent: [input_dim, hidden..., latent_dim] */
    public List<Integer> encoderWidths() {
        List<Integer> w = new ArrayList<>();
        w.add(inputDim);
        w.addAll(encoderDims);
        w.add(latentDim);
        return w;
    }

    /** @return the decoder's layer widths: the encoder's, mirrored */
    public List<Integer> decoderWidths() {
        List<Integer> w = new ArrayList<>(encoderWidths());
        java.util.Collections.reverse(w);
        return w;
    }

    /** @return this config with another method (the {@code --method} flag) */
    public SidModelConfig withMethod(String m) {
        return new SidModelConfig(m, inputDim, encoderDims, latentDim, activation, depth, codebookSize, sharedCodebook,
                codebookUpdate, decay, commitmentWeight, restartUnusedCodes);
    }
}
