package dev.rq.model.config;

import dev.rq.model.engine.Precision;
import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.List;

/**
 * A whole semantic-ID run configuration, as in {@code conf/sid/*.yaml}.
 *
 * @param model the RQ-VAE over embeddings (or rq-kmeans)
 * @param kmeans k-means initialisation (rqvae) or fit (rq-kmeans)
 * @param train optimisation settings of the RQ-VAE (batch_size is the global batch; rq-kmeans uses
 *     only seed, log_every and keep_checkpoints; no {@code init}: fine-tuning is not supported;
 *     {@code precision} fp32 only)
 * @param data item table columns
 */
public record SidRunConfig(SidModelConfig model, SidKMeansConfig kmeans, TrainConfig train, SidDataConfig data)
        implements Serializable {

    public SidRunConfig {
        ConfigException.required(model, "model");
        kmeans = kmeans == null ? SidKMeansConfig.defaults() : kmeans;
        train = train == null ? TrainConfig.defaults() : train;
        data = data == null ? SidDataConfig.defaults() : data;
        ConfigException.require(train.init() == null, "train.init", "train-sid starts from its own (k-means)"
                + " initialisation; starting from other weights is not supported");
        ConfigException.require(train.computePrecision() == Precision.FP32, "train.precision", "train-sid"
                + " computes in fp32 only (the semantic-ID models have no bf16 path), got %s", train.precision());
    }

    /** Loads a run config from a YAML file with {@code key=value} overrides. */
    public static SidRunConfig load(Path file, List<String> overrides) throws IOException {
        return Configs.bind(Configs.applyOverrides(Configs.readTree(file), overrides), SidRunConfig.class, "");
    }

    /** @return this config fitting by {@code method} ({@code rqvae} or {@code rq-kmeans}) */
    public SidRunConfig withMethod(String method) {
        return new SidRunConfig(model.withMethod(method), kmeans, train, data);
    }
}
