package dev.rq.model.config;

import java.io.Serializable;
import java.util.List;

/**
 * Residual quantizer and stage-1 loss settings ({@code hparams} of the official RQ-VAE, §2 and §3
 * of the spec). Defaults follow the official {@code augment_arch_defaults}.
 *
 * @param embedDim codebook vector dimension C (quant_conv output channels)
 * @param nEmbed codebook size K: one value (shared codebook) or one per depth
 * @param decay EMA decay γ: one value or one per depth
 * @param lossType reconstruction loss, {@code mse} or {@code l1}
 * @param latentLossWeight β, the commitment-loss weight
 * @param bottleneckType always {@code rq}
 * @param latentShape [H, W, C] of the quantizer input
 * @param codeShape [h, w, D] of the code stack
 * @param sharedCodebook one codebook for all depths
 * @param restartUnusedCodes re-seed codes whose EMA count drops below 1
 * @param eps Laplace smoothing ε of the cluster sizes
 * @param restartThreshold a code is unused (re-seeded, with {@code restart_unused_codes}) when its EMA count is
 *     below this; the official rule is 1 (the default). Not in the official code: a lower value gives a code that
 *     small batches miss for a few calls time to be used again ({@code docs/training.md})
 * @param greenMagentaLossWeight w: the reconstruction loss adds w times the loss of the error's green–magenta
 *     opponent channel G − (R + B)/2 (squared or absolute, as {@code loss_type}; mean over pixels). 0 (the default)
 *     is the official loss. Not in the official code: the green–magenta axis is the emoji colours' smallest
 *     variance, and the model learns it last ({@code docs/training.md})
 * @param checkpointing gradient checkpointing flag of official configs: training needs it false
 *     ({@link #checkTrainable}: activation recomputation is not implemented; it would only save
 *     memory, results are the same without it). Reading a model with it set is fine: an existing
 *     checkpoint's config is read as it was written; {@link Configs#readOfficialVae} drops the key
 *     of an official file, which is imported for its weights
 */
public record QuantizerConfig(
        Integer embedDim,
        List<Integer> nEmbed,
        List<Double> decay,
        String lossType,
        Double latentLossWeight,
        String bottleneckType,
        List<Integer> latentShape,
        List<Integer> codeShape,
        Boolean sharedCodebook,
        Boolean restartUnusedCodes,
        Double eps,
        Double restartThreshold,
        Double greenMagentaLossWeight,
        Boolean checkpointing) implements Serializable {

    private static final String P = "model.hparams.";

    public QuantizerConfig {
        ConfigException.required(embedDim, P + "embed_dim");
        ConfigException.required(nEmbed, P + "n_embed");
        ConfigException.required(codeShape, P + "code_shape");
        nEmbed = List.copyOf(nEmbed);
        codeShape = List.copyOf(codeShape);
        decay = decay == null ? List.of(0.99) : List.copyOf(decay);
        lossType = lossType == null ? "l1" : lossType;
        latentLossWeight = latentLossWeight == null ? 0.25 : latentLossWeight;
        bottleneckType = bottleneckType == null ? "rq" : bottleneckType;
        sharedCodebook = sharedCodebook != null && sharedCodebook;
        restartUnusedCodes = restartUnusedCodes != null && restartUnusedCodes;
        eps = eps == null ? 1e-5 : eps;
        restartThreshold = restartThreshold == null ? 1.0 : restartThreshold;
        greenMagentaLossWeight = greenMagentaLossWeight == null ? 0.0 : greenMagentaLossWeight;
        checkpointing = checkpointing != null && checkpointing;
        ConfigException.require(embedDim > 0, P + "embed_dim", "must be positive, got %s", embedDim);
        ConfigException.require(codeShape.size() == 3, P + "code_shape", "must be [h, w, depth], got %s", codeShape);
        for (int s : codeShape) {
            ConfigException.require(s > 0, P + "code_shape", "entries must be positive, got %s", codeShape);
        }
        if (latentShape == null) {
            latentShape = List.of(codeShape.get(0), codeShape.get(1), embedDim);
        }
        latentShape = List.copyOf(latentShape);
        ConfigException.require(latentShape.size() == 3, P + "latent_shape", "must be [H, W, C], got %s", latentShape);
        ConfigException.require(latentShape.get(2).equals(embedDim), P + "latent_shape",
                "last entry must equal embed_dim %s, got %s", embedDim, latentShape);
        ConfigException.require(latentShape.get(0).equals(codeShape.get(0)) && latentShape.get(1).equals(codeShape.get(1)),
                P + "code_shape",
                "spatial code shape must equal the latent shape %s (this project does not split positions), got %s",
                latentShape, codeShape);
        int depth = codeShape.get(2);
        ConfigException.require(nEmbed.size() == 1 || (!sharedCodebook && nEmbed.size() == depth), P + "n_embed",
                "must be one value%s, got %s", sharedCodebook ? " with shared_codebook" : " or one per depth", nEmbed);
        for (int k : nEmbed) {
            ConfigException.require(k > 0, P + "n_embed", "must be positive, got %s", nEmbed);
        }
        ConfigException.require(decay.size() == 1 || (!sharedCodebook && decay.size() == depth), P + "decay",
                "must be one value%s, got %s", sharedCodebook ? " with shared_codebook" : " or one per depth", decay);
        for (double d : decay) {
            ConfigException.require(d > 0 && d < 1, P + "decay", "must be in (0, 1), got %s", decay);
        }
        ConfigException.require(lossType.equals("mse") || lossType.equals("l1"), P + "loss_type",
                "must be mse or l1, got %s", lossType);
        ConfigException.require(latentLossWeight >= 0, P + "latent_loss_weight", "must be >= 0, got %s", latentLossWeight);
        ConfigException.require(bottleneckType.equals("rq"), P + "bottleneck_type", "only rq is supported, got %s",
                bottleneckType);
        ConfigException.require(eps > 0, P + "eps", "must be positive, got %s", eps);
        ConfigException.require(restartThreshold > 0 && restartThreshold <= 1, P + "restart_threshold",
                "must be in (0, 1] (a restarted code starts at EMA count 1; the official rule is 1), got %s",
                restartThreshold);
        ConfigException.require(greenMagentaLossWeight >= 0 && Double.isFinite(greenMagentaLossWeight),
                P + "green_magenta_loss_weight", "must be a finite number >= 0 (0: the official loss), got %s",
                greenMagentaLossWeight);
    }


    /**
     * The settings that training cannot honour (a model with them still loads, tokenizes and decodes).
     *
     * @throws ConfigException naming the key
     */
    public void checkTrainable() {
        ConfigException.require(!checkpointing, P + "checkpointing", "gradient checkpointing is not implemented"
                + " (it only trades compute for memory; training without it gives the same results): set it to false");
    }
    /** @return code depth D */
    public int depth() {
        return codeShape.get(2);
    }

    /** @return codebook size K of depth {@code d} */
    public int codebookSize(int d) {
        return nEmbed.size() == 1 ? nEmbed.get(0) : nEmbed.get(d);
    }

    /** @return EMA decay of depth {@code d} */
    public double decayOf(int d) {
        return decay.size() == 1 ? decay.get(0) : decay.get(d);
    }

    /** @return number of distinct codebooks (1 when shared) */
    public int numCodebooks() {
        return sharedCodebook ? 1 : depth();
    }
}
