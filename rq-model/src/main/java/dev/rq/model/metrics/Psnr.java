package dev.rq.model.metrics;

/**
 * Peak signal-to-noise ratio of a reconstruction, in dB: {@code 10·log10(1 / MSE)} over all C·H·W
 * samples of one image, both images mapped from the model range [−1, 1] to [0, 1] ({@code (v + 1)
 * / 2} after clamping to [−1, 1], as {@code save_image} and the official {@code compute_rfid} do)
 * in float64, data range 1. An exact reconstruction (MSE 0) reports {@link #MAX_PSNR} instead of
 * infinity, so means stay finite.
 */
public final class Psnr {

    /** PSNR reported for MSE 0, in dB. */
    public static final double MAX_PSNR = 100.0;

    private Psnr() {}

    /**
     * PSNR of one image.
     *
     * @param original reference tensor(s), values in [−1, 1]
     * @param originalOffset first sample of the reference image
     * @param recon reconstruction tensor(s), any values (clamped to [−1, 1])
     * @param reconOffset first sample of the reconstruction
     * @param len samples per image (C·H·W)
     */
    public static double of(float[] original, int originalOffset, float[] recon, int reconOffset, int len) {
        if (len <= 0) {
            throw new IllegalArgumentException("empty image");
        }
        double sum = 0;
        for (int i = 0; i < len; i++) {
            double d = unit(original[originalOffset + i]) - unit(recon[reconOffset + i]);
            sum += d * d;
        }
        return ofMse(sum / len);
    }

    /** @return {@code 10·log10(1 / mse)}, capped at {@link #MAX_PSNR} */
    public static double ofMse(double mse) {
        if (mse <= 0) {
            return MAX_PSNR;
        }
        return Math.min(MAX_PSNR, -10.0 * Math.log10(mse));
    }

    /** @return a model-range value clamped to [−1, 1] and mapped to [0, 1] */
    public static double unit(float v) {
        float c = Math.max(-1f, Math.min(1f, v));
        return (c + 1.0) / 2.0;
    }
}
