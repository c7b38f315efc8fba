package dev.rq.model.config;

import java.io.Serializable;

/**
 * A whole stage-1 run configuration, as in {@code conf/rqvae/*.yaml}.
 *
 * @param model the RQ-VAE
 * @param train optimisation settings
 * @param data data reading and augmentation
 * @param eval evaluation settings ({@code rq eval})
 * @param gan the official stage-1 {@code gan} section (discriminator and loss terms: LPIPS, patch
 *     GAN, adaptive weight); null: train-vae optimises {@code recon + β·commitment} only
 */
public record RqVaeRunConfig(VaeConfig model, TrainConfig train, DataConfig data, EvalConfig eval, GanConfig gan)
        implements Serializable {

    public RqVaeRunConfig {
        ConfigException.required(model, "model");
        train = train == null ? TrainConfig.defaults() : train;
        data = data == null ? DataConfig.defaults() : data;
        eval = eval == null ? EvalConfig.defaults() : eval;
        ConfigException.require(gan == null || model.hparams().greenMagentaLossWeight() == 0,
                "model.hparams.green_magenta_loss_weight", "is not implemented with a gan section (set it to 0), got %s",
                model.hparams().greenMagentaLossWeight());
    }

    /** A run config with default evaluation settings and no GAN. */
    public RqVaeRunConfig(VaeConfig model, TrainConfig train, DataConfig data) {
        this(model, train, data, null, null);
    }

    /** A run config without GAN. */
    public RqVaeRunConfig(VaeConfig model, TrainConfig train, DataConfig data, EvalConfig eval) {
        this(model, train, data, eval, null);
    }
}
