package dev.rq.model.config;

import java.io.Serializable;

/**
 * The patch-GAN discriminator ({@code gan.disc.arch} of the official stage-1 YAML).
 *
 * @param inChannels image channels (3)
 * @param numLayers stride-2 convolution stages L (official: 2)
 * @param useActnorm official ActNorm instead of BatchNorm: not implemented, rejected
 * @param ndf channels of the first convolution (official: 64)
 * @param spectralNorm spectral normalisation: not implemented, rejected
 */
public record DiscConfig(Integer inChannels, Integer numLayers, Boolean useActnorm, Integer ndf, Boolean spectralNorm)
        implements Serializable {

    static final String P = "gan.disc.arch.";

    public DiscConfig {
        inChannels = inChannels == null ? 3 : inChannels;
        numLayers = numLayers == null ? 2 : numLayers;
        useActnorm = useActnorm != null && useActnorm;
        ndf = ndf == null ? 64 : ndf;
        spectralNorm = spectralNorm != null && spectralNorm;
        ConfigException.require(inChannels > 0, P + "in_channels", "must be positive, got %s", inChannels);
        ConfigException.require(numLayers > 0, P + "num_layers", "must be positive, got %s", numLayers);
        ConfigException.require(ndf > 0, P + "ndf", "must be positive, got %s", ndf);
        ConfigException.require(!useActnorm, P + "use_actnorm", "ActNorm is not implemented (the official configs use false)");
        ConfigException.require(!spectralNorm, P + "spectral_norm", "spectral normalisation is not implemented (the official configs use false)");
    }

    /** @return the official ImageNet/FFHQ discriminator: 3 channels, 2 layers, ndf 64, BatchNorm */
    public static DiscConfig defaults() {
        return new DiscConfig(null, null, null, null, null);
    }
}
