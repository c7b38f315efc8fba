package dev.rq.data.image;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferInt;

/**
 * Reads the EXIF orientation tag (0x0112) of a JPEG and applies it to a decoded TYPE_INT_RGB
 * image, with the semantics of Pillow's {@code ImageOps.exif_transpose}: 2 mirror, 3 rotate 180°,
 * 4 flip vertically, 5 transpose, 6 rotate 90° clockwise, 7 transverse, 8 rotate 90° counter-
 * clockwise; 1 and anything unreadable leave the image as it is.
 */
public final class ExifOrientation {
    private ExifOrientation() {}

    /**
     * Finds the orientation in the first APP1 "Exif" segment before the start of scan.
     *
     * @param jpeg a JPEG file
     * @return 1..8, or 1 when absent or malformed
     */
    public static int read(byte[] jpeg) {
        try {
            int p = 2;
            while (p + 4 <= jpeg.length) {
                if ((jpeg[p] & 0xFF) != 0xFF) {
                    return 1;
                }
                int marker = jpeg[p + 1] & 0xFF;
                if (marker == 0xFF) { // fill byte
                    p++;
                    continue;
                }
                if (marker == 0xDA || marker == 0xD9) { // start of scan / end of image
                    return 1;
                }
                int len = (jpeg[p + 2] & 0xFF) << 8 | (jpeg[p + 3] & 0xFF);
                int start = p + 4;
                if (marker == 0xE1 && len >= 8 && start + 6 <= jpeg.length
                        && jpeg[start] == 'E' && jpeg[start + 1] == 'x' && jpeg[start + 2] == 'i'
                        && jpeg[start + 3] == 'f' && jpeg[start + 4] == 0) {
                    int v = fromTiff(jpeg, start + 6, Math.min(jpeg.length, p + 2 + len));
                    return v >= 1 && v <= 8 ? v : 1;
                }
                p += 2 + len;
            }
        } catch (IndexOutOfBoundsException e) {
            return 1;
        }
        return 1;
    }

    private static int fromTiff(byte[] d, int tiff, int end) {
        boolean le = d[tiff] == 'I' && d[tiff + 1] == 'I';
        int ifd = tiff + int32(d, tiff + 4, le);
        int count = int16(d, ifd, le);
        for (int i = 0; i < count; i++) {
            int e = ifd + 2 + 12 * i;
            if (e + 12 > end) {
                return 1;
            }
            if (int16(d, e, le) == 0x0112) {
                return int16(d, e + 8, le); // SHORT value, left-justified in the value field
            }
        }
        return 1;
    }

    private static int int16(byte[] d, int p, boolean le) {
        int a = d[p] & 0xFF;
        int b = d[p + 1] & 0xFF;
        return le ? b << 8 | a : a << 8 | b;
    }

    private static int int32(byte[] d, int p, boolean le) {
        return le
                ? int16(d, p + 2, true) << 16 | int16(d, p, true)
                : int16(d, p, false) << 16 | int16(d, p + 2, false);
    }

    /**
     * Returns the image as displayed for the given orientation.
     *
     * @param src TYPE_INT_RGB image as stored
     * @param orientation EXIF orientation 1..8
     * @return {@code src} for orientation 1, otherwise a new TYPE_INT_RGB image
     */
    public static BufferedImage apply(BufferedImage src, int orientation) {
        if (orientation <= 1 || orientation > 8) {
            return src;
        }
        int w = src.getWidth();
        int h = src.getHeight();
        boolean swap = orientation >= 5;
        int ow = swap ? h : w;
        int oh = swap ? w : h;
        int[] in = ((DataBufferInt) src.getRaster().getDataBuffer()).getData();
        BufferedImage dst = new BufferedImage(ow, oh, BufferedImage.TYPE_INT_RGB);
        int[] out = ((DataBufferInt) dst.getRaster().getDataBuffer()).getData();
        for (int y = 0; y < oh; y++) {
            for (int x = 0; x < ow; x++) {
                int sx;
                int sy;
                switch (orientation) {
                    case 2 -> { sx = w - 1 - x; sy = y; }
                    case 3 -> { sx = w - 1 - x; sy = h - 1 - y; }
                    case 4 -> { sx = x; sy = h - 1 - y; }
                    case 5 -> { sx = y; sy = x; }
                    case 6 -> { sx = y; sy = h - 1 - x; }
                    case 7 -> { sx = w - 1 - y; sy = h - 1 - x; }
                    default -> { sx = w - 1 - y; sy = x; } // 8
                }
                out[y * ow + x] = in[sy * w + sx];
            }
        }
        return dst;
    }
}
