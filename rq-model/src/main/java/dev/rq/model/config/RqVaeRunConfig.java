package dev.rq.model.config;

/**
 * A whole stage-1 run configuration, as in {@code conf/rqvae/*.yaml}.
 *
 * @param model the RQ-VAE
 * @param train optimisation settings
 * @param data data reading and augmentation
 */
public record RqVaeRunConfig(VaeConfig model, TrainConfig train, DataConfig data) {

    public RqVaeRunConfig {
        ConfigException.required(model, "model");
        train = train == null ? TrainConfig.defaults() : train;
        data = data == null ? DataConfig.defaults() : data;
    }
}
