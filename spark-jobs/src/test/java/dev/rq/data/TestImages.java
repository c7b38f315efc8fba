package dev.rq.data;

import java.awt.image.BufferedImage;
import java.awt.image.DataBuffer;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Random;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;

/** Generates encoded test images in memory (ImageIO / TwelveMonkeys writers, crafted bytes). */
public final class TestImages {
    private TestImages() {}

    /** A solid-colour TYPE_INT_RGB image. */
    public static BufferedImage solid(int w, int h, int rgb) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, rgb);
            }
        }
        return img;
    }

    /** Seeded noise (hard to compress; good for truncation tests). */
    public static BufferedImage noise(int w, int h, long seed) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Random r = new Random(seed);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, r.nextInt());
            }
        }
        return img;
    }

    /** A smooth gradient with some detail (JPEG-friendly "photo"). */
    public static BufferedImage gradient(int w, int h, long seed) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Random r = new Random(seed);
        double fx = 0.02 + r.nextDouble() * 0.1;
        double fy = 0.02 + r.nextDouble() * 0.1;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int red = (int) (127 + 127 * Math.sin(x * fx + y * fy));
                int g = (int) (127 + 127 * Math.cos(x * fy - y * fx));
                int b = (x * 255 / w + y * 255 / h) / 2;
                img.setRGB(x, y, red << 16 | g << 8 | b);
            }
        }
        return img;
    }

    /** Encodes with the first ImageIO writer of {@code format}. */
    public static byte[] encode(BufferedImage img, String format) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        if (!ImageIO.write(img, format, bos)) {
            throw new IOException("no writer for " + format + " / type " + img.getType());
        }
        return bos.toByteArray();
    }

    /** JPEG at a quality, optionally progressive. */
    public static byte[] jpeg(BufferedImage img, float quality, boolean progressive)
            throws IOException {
        ImageWriter w = ImageIO.getImageWritersByFormatName("jpeg").next();
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (ImageOutputStream out = ImageIO.createImageOutputStream(bos)) {
            ImageWriteParam p = w.getDefaultWriteParam();
            if (progressive) {
                p.setProgressiveMode(ImageWriteParam.MODE_DEFAULT);
            } else {
                p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
                p.setCompressionQuality(quality);
            }
            w.setOutput(out);
            w.write(null, new IIOImage(img, null, null), p);
        } finally {
            w.dispose();
        }
        return bos.toByteArray();
    }

    /** A 4-component JPEG of a constant pixel (raw component values, no colour transform). */
    public static byte[] fourComponentJpeg(int w, int h, int[] pixel) throws IOException {
        WritableRaster r = Raster.createInterleavedRaster(DataBuffer.TYPE_BYTE, w, h, 4, null);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                r.setPixel(x, y, pixel);
            }
        }
        ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (ImageOutputStream out = ImageIO.createImageOutputStream(bos)) {
            writer.setOutput(out);
            writer.write(null, new IIOImage(r, null, null), null);
        } finally {
            writer.dispose();
        }
        return bos.toByteArray();
    }

    /**
     * Inserts an Adobe APP14 segment after SOI: transform 0 = CMYK (stored inverted, Photoshop
     * style), 2 = YCCK.
     */
    public static byte[] withAdobeMarker(byte[] jpeg, int transform) {
        byte[] seg = {(byte) 0xFF, (byte) 0xEE, 0, 14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0,
            (byte) transform};
        return insertAfterSoi(jpeg, seg);
    }

    /** Inserts an APP1 Exif segment (big-endian TIFF, IFD0 with only Orientation) after SOI. */
    public static byte[] withExifOrientation(byte[] jpeg, int orientation, boolean littleEndian) {
        byte[] tiff = new byte[8 + 2 + 12 + 4];
        if (littleEndian) {
            tiff[0] = 'I';
            tiff[1] = 'I';
            tiff[2] = 42;
            tiff[4] = 8;
            tiff[8] = 1; // one entry
            tiff[10] = 0x12;
            tiff[11] = 0x01; // tag 0x0112
            tiff[12] = 3; // SHORT
            tiff[14] = 1; // count 1
            tiff[18] = (byte) orientation;
        } else {
            tiff[0] = 'M';
            tiff[1] = 'M';
            tiff[3] = 42;
            tiff[7] = 8;
            tiff[9] = 1;
            tiff[10] = 0x01;
            tiff[11] = 0x12;
            tiff[13] = 3;
            tiff[17] = 1;
            tiff[19] = (byte) orientation;
        }
        int len = 2 + 6 + tiff.length;
        byte[] seg = new byte[2 + len];
        seg[0] = (byte) 0xFF;
        seg[1] = (byte) 0xE1;
        seg[2] = (byte) (len >> 8);
        seg[3] = (byte) len;
        System.arraycopy(new byte[] {'E', 'x', 'i', 'f', 0, 0}, 0, seg, 4, 6);
        System.arraycopy(tiff, 0, seg, 10, tiff.length);
        return insertAfterSoi(jpeg, seg);
    }

    private static byte[] insertAfterSoi(byte[] jpeg, byte[] seg) {
        byte[] o = new byte[jpeg.length + seg.length];
        o[0] = jpeg[0];
        o[1] = jpeg[1];
        System.arraycopy(seg, 0, o, 2, seg.length);
        System.arraycopy(jpeg, 2, o, 2 + seg.length, jpeg.length - 2);
        return o;
    }
}
