package dev.rq.pipelines.quickstart;

import dev.rq.model.metrics.Psnr;
import java.util.Arrays;

/**
 * Reconstruction quality of the quickstart report: PSNR ({@link Psnr}, dB of images in [0, 1]
 * from model-range tensors in [−1, 1]) and summaries of per-image values.
 */
public final class ReconstructionStats {

    /** PSNR reported for an exact reconstruction (MSE 0), instead of infinity. */
    public static final double MAX_PSNR = Psnr.MAX_PSNR;

    private ReconstructionStats() {}

    /**
     * PSNR of one image: {@code 10·log10(1 / MSE)} over all {@code len} samples, both images mapped
     * from [−1, 1] to [0, 1].
     *
     * @param original reference tensor(s), values in [−1, 1]
     * @param originalOffset first sample of the reference image
     * @param recon reconstruction tensor(s), any values (clamped to [−1, 1])
     * @param reconOffset first sample of the reconstruction
     * @param len samples per image (C·H·W)
     */
    public static double psnr(float[] original, int originalOffset, float[] recon, int reconOffset, int len) {
        return Psnr.of(original, originalOffset, recon, reconOffset, len);
    }

    /** @return {@code 10·log10(1 / mse)}, capped at {@link #MAX_PSNR} */
    public static double psnrOfMse(double mse) {
        return Psnr.ofMse(mse);
    }

    /**
     * Summary of per-image values.
     *
     * @param n images
     * @param mean mean
     * @param median median
     * @param min minimum
     * @param max maximum
     */
    public record Summary(int n, double mean, double median, double min, double max) {
        /** @return the summary of {@code values} (NaN fields when empty) */
        public static Summary of(double[] values) {
            if (values.length == 0) {
                return new Summary(0, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
            }
            double[] s = values.clone();
            Arrays.sort(s);
            double sum = 0;
            for (double v : s) {
                sum += v;
            }
            int m = s.length / 2;
            double median = s.length % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2;
            return new Summary(s.length, sum / s.length, median, s[0], s[s.length - 1]);
        }
    }
}
