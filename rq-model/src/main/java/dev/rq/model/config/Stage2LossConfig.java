package dev.rq.model.config;

import java.io.Serializable;

/**
 * The stage-2 objective (spec §4.5–4.6; the official configs' {@code loss} and {@code
 * stochastic_codes} settings).
 *
 * @param type {@code soft_target_cross_entropy} (official: targets are the RQ-VAE's soft codes,
 *     needs images) or {@code cross_entropy} (hard codes)
 * @param temp temperature of the soft codes
 * @param stochasticCodes input codes sampled from the soft codes depth by depth (else argmin)
 * @param imgWeight weight of the image loss when there is a text condition (block_size_cond &gt; 1)
 * @param txtWeight weight of the condition (text) loss when block_size_cond &gt; 1
 */
public record Stage2LossConfig(String type, Double temp, Boolean stochasticCodes, Double imgWeight, Double txtWeight)
        implements Serializable {

    /** Soft-target cross-entropy. */
    public static final String SOFT = "soft_target_cross_entropy";

    /** Hard-target cross-entropy. */
    public static final String HARD = "cross_entropy";

    public Stage2LossConfig {
        type = type == null ? SOFT : type;
        temp = temp == null ? 0.5 : temp;
        stochasticCodes = stochasticCodes == null || stochasticCodes;
        imgWeight = imgWeight == null ? 0.9 : imgWeight;
        txtWeight = txtWeight == null ? 0.1 : txtWeight;
        ConfigException.require(type.equals(SOFT) || type.equals(HARD), "loss.type", "must be %s or %s, got %s",
                SOFT, HARD, type);
        ConfigException.require(temp > 0, "loss.temp", "must be positive, got %s", temp);
        ConfigException.require(imgWeight >= 0, "loss.img_weight", "must be >= 0, got %s", imgWeight);
        ConfigException.require(txtWeight >= 0, "loss.txt_weight", "must be >= 0, got %s", txtWeight);
    }

    /** @return true for soft targets */
    public boolean soft() {
        return type.equals(SOFT);
    }

    /** @return the official stage-2 objective */
    public static Stage2LossConfig defaults() {
        return new Stage2LossConfig(null, null, null, null, null);
    }
}
