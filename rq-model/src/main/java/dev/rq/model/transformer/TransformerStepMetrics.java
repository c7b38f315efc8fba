package dev.rq.model.transformer;

import dev.rq.model.train.StepLoop;

/**
 * What one stage-2 optimizer step reports (global over all ranks).
 *
 * @param step optimizer step (1-based)
 * @param lr learning rate used
 * @param loss the optimised loss (soft- or hard-target cross-entropy; with a text condition the
 *     weighted image + text loss), mean over the global batch
 * @param nllPerDepth hard-target cross-entropy (nats) of the input codes per depth, mean over the
 *     global batch (the model's code likelihood, whatever the training targets)
 * @param gradNorm global gradient norm before clipping
 * @param images images in the global batch
 * @param seconds wall time of the step
 * @param timings where this rank's time went
 */
public record TransformerStepMetrics(
        long step,
        double lr,
        double loss,
        double[] nllPerDepth,
        double gradNorm,
        int images,
        double seconds,
        StepLoop.Timings timings) {

    /** @return bits per code per depth: nll / ln 2 */
    public double[] bitsPerCode() {
        double[] b = new double[nllPerDepth.length];
        for (int d = 0; d < b.length; d++) {
            b[d] = nllPerDepth[d] / Math.log(2);
        }
        return b;
    }

    /** @return bits per code averaged over depths */
    public double meanBitsPerCode() {
        double s = 0;
        for (double v : bitsPerCode()) {
            s += v;
        }
        return s / nllPerDepth.length;
    }
}
