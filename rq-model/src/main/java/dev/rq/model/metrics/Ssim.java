package dev.rq.model.metrics;

/**
 * Structural similarity (Wang, Bovik, Sheikh and Simoncelli, 2004) of a reconstruction, the
 * common "Gaussian SSIM" variant, in float64:
 *
 * <ul>
 *   <li>images mapped from the model range [−1, 1] to [0, 1] as in {@link Psnr#unit}; data range
 *       L = 1, so C₁ = (0.01·L)², C₂ = (0.03·L)²;
 *   <li>local statistics with an 11×11 Gaussian window, σ = 1.5, normalised to sum 1, applied
 *       separably and only where it fits inside the image ("valid": an H×W image gives an
 *       (H−10)×(W−10) SSIM map); biased (population) local variances and covariance;
 *   <li>{@code SSIM = (2μₓμᵧ + C₁)(2σₓᵧ + C₂) / ((μₓ² + μᵧ² + C₁)(σₓ² + σᵧ² + C₂))} per
 *       position and channel; the image's SSIM is the mean over positions, then over the three
 *       RGB channels.
 * </ul>
 *
 * <p>This is pytorch-msssim's {@code ssim(X, Y, data_range=1, win_size=11, win_sigma=1.5, K=(0.01,
 * 0.03))} and scikit-image's {@code structural_similarity(x, y, data_range=1,
 * gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=0)} (which filters
 * the whole image and then crops the 5-pixel border, the same thing). Images need H, W ≥ 11.
 */
public final class Ssim {

    /** Window side. */
    public static final int WINDOW = 11;
    /** Window standard deviation, in pixels. */
    public static final double SIGMA = 1.5;
    /** C₁ for data range 1. */
    public static final double C1 = 0.01 * 0.01;
    /** C₂ for data range 1. */
    public static final double C2 = 0.03 * 0.03;

    private static final double[] WEIGHTS = gaussian();

    private Ssim() {}

    /**
     * SSIM of one image.
     *
     * @param original reference, NCHW floats in [−1, 1]
     * @param originalOffset first sample of the reference image
     * @param recon reconstruction (clamped to [−1, 1])
     * @param reconOffset first sample of the reconstruction
     * @param channels C
     * @param height H (≥ 11)
     * @param width W (≥ 11)
     * @return the mean SSIM, in [−1, 1]
     */
    public static double of(float[] original, int originalOffset, float[] recon, int reconOffset, int channels,
            int height, int width) {
        if (height < WINDOW || width < WINDOW) {
            throw new IllegalArgumentException("SSIM needs images of at least " + WINDOW + "x" + WINDOW + " pixels, got "
                    + height + "x" + width);
        }
        int plane = height * width;
        double sum = 0;
        for (int c = 0; c < channels; c++) {
            double[] x = new double[plane];
            double[] y = new double[plane];
            for (int i = 0; i < plane; i++) {
                x[i] = Psnr.unit(original[originalOffset + c * plane + i]);
                y[i] = Psnr.unit(recon[reconOffset + c * plane + i]);
            }
            sum += channel(x, y, height, width);
        }
        return sum / channels;
    }

    /** Mean SSIM of one channel. */
    private static double channel(double[] x, double[] y, int h, int w) {
        int n = h * w;
        double[] xx = new double[n];
        double[] yy = new double[n];
        double[] xy = new double[n];
        for (int i = 0; i < n; i++) {
            xx[i] = x[i] * x[i];
            yy[i] = y[i] * y[i];
            xy[i] = x[i] * y[i];
        }
        int oh = h - WINDOW + 1;
        int ow = w - WINDOW + 1;
        double[] mx = filter(x, h, w);
        double[] my = filter(y, h, w);
        double[] sxx = filter(xx, h, w);
        double[] syy = filter(yy, h, w);
        double[] sxy = filter(xy, h, w);
        double sum = 0;
        for (int i = 0; i < oh * ow; i++) {
            double vx = sxx[i] - mx[i] * mx[i];
            double vy = syy[i] - my[i] * my[i];
            double cxy = sxy[i] - mx[i] * my[i];
            double lum = (2 * mx[i] * my[i] + C1) / (mx[i] * mx[i] + my[i] * my[i] + C1);
            double cs = (2 * cxy + C2) / (vx + vy + C2);
            sum += lum * cs;
        }
        return sum / (oh * ow);
    }

    /** Valid separable Gaussian filter: rows, then columns. [h, w] → [h−10, w−10]. */
    private static double[] filter(double[] a, int h, int w) {
        int ow = w - WINDOW + 1;
        int oh = h - WINDOW + 1;
        double[] rows = new double[h * ow];
        for (int r = 0; r < h; r++) {
            for (int c = 0; c < ow; c++) {
                double s = 0;
                for (int k = 0; k < WINDOW; k++) {
                    s += WEIGHTS[k] * a[r * w + c + k];
                }
                rows[r * ow + c] = s;
            }
        }
        double[] out = new double[oh * ow];
        for (int r = 0; r < oh; r++) {
            for (int c = 0; c < ow; c++) {
                double s = 0;
                for (int k = 0; k < WINDOW; k++) {
                    s += WEIGHTS[k] * rows[(r + k) * ow + c];
                }
                out[r * ow + c] = s;
            }
        }
        return out;
    }

    /** @return the normalised 1-D Gaussian window */
    private static double[] gaussian() {
        double[] g = new double[WINDOW];
        double s = 0;
        for (int i = 0; i < WINDOW; i++) {
            double d = i - WINDOW / 2;
            g[i] = Math.exp(-d * d / (2 * SIGMA * SIGMA));
            s += g[i];
        }
        for (int i = 0; i < WINDOW; i++) {
            g[i] /= s;
        }
        return g;
    }
}
