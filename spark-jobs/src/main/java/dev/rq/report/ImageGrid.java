package dev.rq.report;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import javax.imageio.ImageIO;

/**
 * Images and image grids from NCHW float tensors in [−1, 1] (the RQ-VAE's value range), written as
 * PNG. Pixel conversion follows the official code and torchvision's {@code save_image}: clamp to
 * [−1, 1], map to [0, 1], then {@code uint8(v·255 + 0.5)} (clamped to [0, 255]). Channels: 3 (RGB)
 * or 1 (gray).
 */
public final class ImageGrid {

    private ImageGrid() {}

    /** @return the 8-bit value of one model output sample */
    public static int toByte(float v) {
        float c = Math.max(-1f, Math.min(1f, v));
        float f = (c + 1f) / 2f * 255f + 0.5f;
        return (int) Math.max(0f, Math.min(255f, f));
    }

    /**
     * One image of a batch.
     *
     * @param nchw batch, {@code n·c·h·w} floats
     * @param index image index
     * @param c channels (1 or 3)
     * @param h height
     * @param w width
     */
    public static BufferedImage image(float[] nchw, int index, int c, int h, int w) {
        checkChannels(c);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        int plane = h * w;
        int base = index * c * plane;
        if (base + c * plane > nchw.length) {
            throw new IllegalArgumentException("image " + index + " is outside a tensor of " + nchw.length + " floats");
        }
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int o = base + y * w + x;
                int r = toByte(nchw[o]);
                int g = c == 3 ? toByte(nchw[o + plane]) : r;
                int b = c == 3 ? toByte(nchw[o + 2 * plane]) : r;
                img.setRGB(x, y, (r << 16) | (g << 8) | b);
            }
        }
        return img;
    }

    /**
     * A grid of the first {@code n} images, row-major, {@code columns} per row, separated and framed
     * by {@code padding} pixels of {@code background} (0xRRGGBB).
     */
    public static BufferedImage grid(float[] nchw, int n, int c, int h, int w, int columns, int padding,
            int background) {
        checkChannels(c);
        if (n <= 0 || columns <= 0 || padding < 0) {
            throw new IllegalArgumentException("need n > 0, columns > 0, padding >= 0");
        }
        int cols = Math.min(columns, n);
        int rows = (n + cols - 1) / cols;
        int gw = cols * w + (cols + 1) * padding;
        int gh = rows * h + (rows + 1) * padding;
        BufferedImage grid = new BufferedImage(gw, gh, BufferedImage.TYPE_INT_RGB);
        java.awt.Graphics2D g = grid.createGraphics();
        try {
            g.setColor(new java.awt.Color(background));
            g.fillRect(0, 0, gw, gh);
            for (int i = 0; i < n; i++) {
                int x = padding + (i % cols) * (w + padding);
                int y = padding + (i / cols) * (h + padding);
                g.drawImage(image(nchw, i, c, h, w), x, y, null);
            }
        } finally {
            g.dispose();
        }
        return grid;
    }

    /** As {@link #grid(float[], int, int, int, int, int, int, int)} with about square layout, 2 px white padding. */
    public static BufferedImage grid(float[] nchw, int n, int c, int h, int w) {
        return grid(nchw, n, c, h, w, (int) Math.ceil(Math.sqrt(n)), 2, 0xFFFFFF);
    }

    /** Writes a PNG. */
    public static void writePng(BufferedImage img, OutputStream out) throws IOException {
        if (!ImageIO.write(img, "png", out)) {
            throw new IOException("no PNG writer available");
        }
    }

    /** @return PNG bytes */
    public static byte[] png(BufferedImage img) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try {
            writePng(img, b);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return b.toByteArray();
    }

    private static void checkChannels(int c) {
        if (c != 1 && c != 3) {
            throw new IllegalArgumentException("channels must be 1 or 3, got " + c);
        }
    }
}
