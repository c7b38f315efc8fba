package dev.rq.model.train;

/**
 * What one RQ-VAE (stage-1) optimizer step reports (global over all ranks).
 *
 * @param step optimizer step (1-based)
 * @param lr learning rate used
 * @param loss total loss, mean over the global batch: recon + β·commit (+ p_w·LPIPS with the GAN
 *     pair: the official logged {@code loss_total}, which leaves out the GAN term)
 * @param reconLoss reconstruction loss
 * @param commitLoss commitment loss
 * @param gradNorm global gradient norm before clipping
 * @param perplexity codebook perplexity per depth, exp(entropy of this step's code histogram)
 * @param usedFraction fraction of each depth's codebook used at least once in this step
 * @param deadFraction fraction of codes (per distinct codebook, averaged) whose EMA count is below 1
 *     before restarts, i.e. codes that were re-seeded or would be
 * @param images images in the global batch
 * @param seconds wall time of the step
 * @param timings where the step's time went
 * @param gan the perceptual and GAN terms (null when the run has no {@code gan} section)
 */
public record VaeStepMetrics(
        long step,
        double lr,
        double loss,
        double reconLoss,
        double commitLoss,
        double gradNorm,
        double[] perplexity,
        double[] usedFraction,
        double deadFraction,
        int images,
        double seconds,
        StepLoop.Timings timings,
        GanTerms gan) {

    /**
     * The stage-1 perceptual and GAN terms of a step (means over the global batch's micro-batches).
     *
     * @param perceptualLoss LPIPS(x, x̂) (0 with {@code perceptual_weight} 0)
     * @param generatorLoss −mean D(x̂) (0 before {@code disc_start})
     * @param adaptiveWeight the adaptive weight g (0 before {@code disc_start})
     * @param discriminatorLoss the configured discriminator loss before its {@code disc_weight} (0 before {@code disc_start})
     * @param discriminatorActive the GAN part was on ({@code epoch >= disc_start})
     * @param discriminatorGradNorm the discriminator's global gradient norm (0 when not active)
     * @param discriminatorLr the discriminator's learning rate (0 when not active)
     * @param discriminatorStep optimizer steps the discriminator has taken
     */
    public record GanTerms(double perceptualLoss, double generatorLoss, double adaptiveWeight,
            double discriminatorLoss, boolean discriminatorActive, double discriminatorGradNorm,
            double discriminatorLr, long discriminatorStep) {}
}
