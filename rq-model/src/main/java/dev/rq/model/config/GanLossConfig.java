package dev.rq.model.config;

import java.io.Serializable;

/**
 * The stage-1 loss terms beyond reconstruction and commitment ({@code gan.loss} of the official
 * stage-1 YAML, plus where the perceptual network's weights are).
 *
 * @param discLoss discriminator loss: {@code hinge} or {@code vanilla} (softplus)
 * @param genLoss generator loss: {@code vanilla} (−mean D(x̂), the official meaning)
 * @param discWeight d_w: weight of the GAN term after the adaptive weight, and of the
 *     discriminator loss before its backward pass (as the official trainer)
 * @param perceptualWeight p_w: weight of LPIPS (0: no perceptual term)
 * @param discStart first 0-based EPOCH with the GAN part on (the official meaning; not a step)
 * @param perceptualWeights URI of the LPIPS weights (safetensors, official LPIPS keys); training
 *     requires it when {@code perceptual_weight > 0} ({@link #checkTrainable})
 */
public record GanLossConfig(String discLoss, String genLoss, Double discWeight, Double perceptualWeight,
        Integer discStart, String perceptualWeights) implements Serializable {

    static final String P = "gan.loss.";

    public GanLossConfig {
        discLoss = discLoss == null ? "hinge" : discLoss;
        genLoss = genLoss == null ? "vanilla" : genLoss;
        discWeight = discWeight == null ? 0.75 : discWeight;
        perceptualWeight = perceptualWeight == null ? 1.0 : perceptualWeight;
        discStart = discStart == null ? 0 : discStart;
        perceptualWeights = perceptualWeights == null || perceptualWeights.isBlank() ? null : perceptualWeights;
        ConfigException.require(discLoss.equals("hinge") || discLoss.equals("vanilla"), P + "disc_loss",
                "must be hinge or vanilla, got %s", discLoss);
        ConfigException.require(genLoss.equals("vanilla"), P + "gen_loss", "must be vanilla (-mean D(x)), got %s",
                genLoss);
        ConfigException.require(discWeight >= 0, P + "disc_weight", "must be >= 0, got %s", discWeight);
        ConfigException.require(perceptualWeight >= 0, P + "perceptual_weight", "must be >= 0, got %s",
                perceptualWeight);
        ConfigException.require(discStart >= 0, P + "disc_start", "must be >= 0 (an epoch index), got %s", discStart);
    }

    /**
     * Checks what training needs (other jobs read the same config without the LPIPS weights).
     *
     * @throws ConfigException naming {@code gan.loss.perceptual_weights} when LPIPS is asked for
     *     without its weights
     */
    public void checkTrainable() {
        ConfigException.require(perceptualWeight == 0 || perceptualWeights != null, P + "perceptual_weights",
                "is required when perceptual_weight > 0: the URI of the LPIPS weights as safetensors"
                        + " (docs/training.md has the one-line conversion); or set gan.loss.perceptual_weight=0");
    }

    /** @return the perceptual term is on */
    public boolean perceptual() {
        return perceptualWeight > 0;
    }

    /** @return true for the hinge discriminator loss */
    public boolean hinge() {
        return discLoss.equals("hinge");
    }
}
