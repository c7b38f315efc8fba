package dev.rq.data.image;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferInt;

/**
 * Pillow's {@code Image.resize(size, Image.BILINEAR)} re-implemented on packed RGB ints
 * (Pillow {@code src/libImaging/Resample.c}, unchanged since Pillow 4.x).
 *
 * <p>The filter is the triangle ("bilinear") kernel {@code k(x) = max(0, 1 − |x|)} with support
 * 1, <b>stretched by the scale factor when downscaling</b> (support = scale, weights evaluated at
 * {@code (x − center + 0.5)/scale}), which is an antialiasing area-weighted filter; when upscaling
 * it is plain bilinear interpolation with half-pixel centres. The image is resampled separably,
 * horizontal pass first (only the source rows the vertical pass needs), each pass rounding to 8
 * bits. Weights are normalised per output pixel and converted to 22-bit fixed point exactly as
 * Pillow does ({@code PRECISION_BITS = 32 − 8 − 2}), so results are bit-identical to Pillow for RGB
 * images. This is what torchvision's {@code Resize} (default bilinear, PIL input) does.
 */
public final class Resampling {
    private static final int PRECISION_BITS = 32 - 8 - 2;

    private Resampling() {}

    /**
     * Output size of torchvision's {@code Resize(size)} with an int size: the shorter side becomes
     * {@code size}, the longer one {@code (int)(size * long / short)} (truncated).
     *
     * @return {width, height}
     */
    public static int[] shorterSideSize(int width, int height, int size) {
        if (width <= height) {
            return new int[] {size, (int) ((long) size * height / width)};
        }
        return new int[] {(int) ((long) size * width / height), size};
    }

    /**
     * Resizes a TYPE_INT_RGB image with Pillow's bilinear filter.
     *
     * @param src TYPE_INT_RGB image
     * @param outW output width (> 0)
     * @param outH output height (> 0)
     * @return a new TYPE_INT_RGB image, or {@code src} itself when the size is unchanged
     */
    public static BufferedImage resize(BufferedImage src, int outW, int outH) {
        int w = src.getWidth();
        int h = src.getHeight();
        if (w == outW && h == outH) {
            return src;
        }
        int[] in = ((DataBufferInt) src.getRaster().getDataBuffer()).getData();
        int[] out = resize(in, w, h, outW, outH);
        BufferedImage dst = new BufferedImage(outW, outH, BufferedImage.TYPE_INT_RGB);
        System.arraycopy(out, 0, ((DataBufferInt) dst.getRaster().getDataBuffer()).getData(), 0,
                out.length);
        return dst;
    }

    /**
     * Resizes packed 0xRRGGBB pixels (row-major, {@code w*h}) to {@code outW x outH}.
     *
     * @return a new array of {@code outW*outH} packed pixels
     */
    public static int[] resize(int[] in, int w, int h, int outW, int outH) {
        if (w == outW && h == outH) {
            return in.clone();
        }
        Coeffs horiz = Coeffs.compute(w, outW);
        Coeffs vert = Coeffs.compute(h, outH);
        boolean needH = outW != w;
        boolean needV = outH != h;
        int[] cur = in;
        int curH = h;
        int[] vBounds = vert.bounds.clone();
        if (needH) {
            int yFirst = vert.bounds[0];
            int yLast = vert.bounds[outH * 2 - 2] + vert.bounds[outH * 2 - 1];
            if (!needV) {
                yFirst = 0;
                yLast = h;
            }
            for (int i = 0; i < outH; i++) {
                vBounds[i * 2] -= yFirst;
            }
            int rows = yLast - yFirst;
            int[] tmp = new int[outW * rows];
            for (int y = 0; y < rows; y++) {
                int rowOff = (y + yFirst) * w;
                for (int xx = 0; xx < outW; xx++) {
                    int xmin = horiz.bounds[xx * 2];
                    int xmax = horiz.bounds[xx * 2 + 1];
                    int kOff = xx * horiz.ksize;
                    int s0 = 1 << (PRECISION_BITS - 1);
                    int s1 = s0;
                    int s2 = s0;
                    for (int x = 0; x < xmax; x++) {
                        int p = in[rowOff + x + xmin];
                        int k = horiz.k[kOff + x];
                        s0 += (p >> 16 & 0xFF) * k;
                        s1 += (p >> 8 & 0xFF) * k;
                        s2 += (p & 0xFF) * k;
                    }
                    tmp[y * outW + xx] = clip8(s0) << 16 | clip8(s1) << 8 | clip8(s2);
                }
            }
            cur = tmp;
            curH = rows;
        }
        if (!needV) {
            return cur == in ? in.clone() : cur;
        }
        int[] out = new int[outW * outH];
        for (int yy = 0; yy < outH; yy++) {
            int ymin = vBounds[yy * 2];
            int ymax = vBounds[yy * 2 + 1];
            int kOff = yy * vert.ksize;
            for (int xx = 0; xx < outW; xx++) {
                int s0 = 1 << (PRECISION_BITS - 1);
                int s1 = s0;
                int s2 = s0;
                for (int y = 0; y < ymax; y++) {
                    int p = cur[(y + ymin) * outW + xx];
                    int k = vert.k[kOff + y];
                    s0 += (p >> 16 & 0xFF) * k;
                    s1 += (p >> 8 & 0xFF) * k;
                    s2 += (p & 0xFF) * k;
                }
                out[yy * outW + xx] = clip8(s0) << 16 | clip8(s1) << 8 | clip8(s2);
            }
        }
        assert curH > 0;
        return out;
    }

    private static int clip8(int s) {
        int v = s >> PRECISION_BITS;
        return v < 0 ? 0 : Math.min(v, 255);
    }

    /** Pillow's {@code precompute_coeffs} + {@code normalize_coeffs_8bpc} for the full box. */
    private static final class Coeffs {
        final int ksize;
        final int[] bounds; // per output pixel: xmin, count
        final int[] k; // fixed-point weights, ksize per output pixel

        private Coeffs(int ksize, int[] bounds, int[] k) {
            this.ksize = ksize;
            this.bounds = bounds;
            this.k = k;
        }

        static Coeffs compute(int inSize, int outSize) {
            double scale = (double) inSize / outSize;
            double filterscale = Math.max(scale, 1.0);
            double support = 1.0 * filterscale;
            int ksize = (int) Math.ceil(support) * 2 + 1;
            int[] bounds = new int[outSize * 2];
            int[] kk = new int[outSize * ksize];
            double[] kd = new double[ksize];
            for (int xx = 0; xx < outSize; xx++) {
                double center = (xx + 0.5) * scale;
                double ww = 0.0;
                double ss = 1.0 / filterscale;
                int xmin = (int) (center - support + 0.5);
                if (xmin < 0) {
                    xmin = 0;
                }
                int xmax = (int) (center + support + 0.5);
                if (xmax > inSize) {
                    xmax = inSize;
                }
                xmax -= xmin;
                for (int x = 0; x < xmax; x++) {
                    double wgt = triangle((x + xmin - center + 0.5) * ss);
                    kd[x] = wgt;
                    ww += wgt;
                }
                for (int x = 0; x < xmax; x++) {
                    double v = ww != 0.0 ? kd[x] / ww : kd[x];
                    kk[xx * ksize + x] = (int) (v < 0
                            ? -0.5 + v * (1 << PRECISION_BITS)
                            : 0.5 + v * (1 << PRECISION_BITS));
                }
                bounds[xx * 2] = xmin;
                bounds[xx * 2 + 1] = xmax;
            }
            return new Coeffs(ksize, bounds, kk);
        }

        private static double triangle(double x) {
            if (x < 0.0) {
                x = -x;
            }
            return x < 1.0 ? 1.0 - x : 0.0;
        }
    }
}
