package dev.rq.model.train;

/**
 * What one optimizer step reports (global over all ranks).
 *
 * @param step optimizer step (1-based)
 * @param lr learning rate used
 * @param loss total loss (recon + β·commit), mean over the global batch
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
 */
public record StepMetrics(
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
        Timings timings) {

    /**
     * Seconds spent per phase of a step on this rank.
     *
     * @param forward forward passes and losses (including in-forward EMA collectives)
     * @param backward backward passes
     * @param allReduce gradient all-reduce (host copies included)
     * @param optimizer clipping and the Adam update
     */
    public record Timings(double forward, double backward, double allReduce, double optimizer) {}
}
