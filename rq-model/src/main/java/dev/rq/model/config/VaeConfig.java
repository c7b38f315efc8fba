package dev.rq.model.config;

import java.io.Serializable;

/**
 * The RQ-VAE model: the official {@code ddconfig} and {@code hparams} sections.
 *
 * @param ddconfig encoder/decoder shape
 * @param hparams quantizer and loss
 */
public record VaeConfig(DdConfig ddconfig, QuantizerConfig hparams) implements Serializable {

    public VaeConfig {
        ConfigException.required(ddconfig, "model.ddconfig");
        ConfigException.required(hparams, "model.hparams");
        int latent = ddconfig.latentSize();
        ConfigException.require(hparams.latentShape().get(0) == latent && hparams.latentShape().get(1) == latent,
                "model.hparams.latent_shape",
                "spatial size must be resolution / 2^(len(ch_mult)-1) = %s, got %s", latent, hparams.latentShape());
    }
}
