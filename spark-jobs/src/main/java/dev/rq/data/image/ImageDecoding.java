package dev.rq.data.image;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.DataBufferByte;
import java.awt.image.DataBufferInt;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.event.IIOReadWarningListener;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;

/**
 * Decodes encoded image bytes (JPEG, PNG, GIF, BMP, WebP, TIFF) into an 8-bit sRGB {@link
 * BufferedImage} of type {@link BufferedImage#TYPE_INT_RGB}.
 *
 * <p>Rules, in order:
 *
 * <ol>
 *   <li>The format is detected from the leading bytes ("magic"), never from the file name, so a
 *       PNG named {@code .JPEG} (there is one in ImageNet) decodes, and upper-case extensions are
 *       irrelevant.
 *   <li>JPEG uses the TwelveMonkeys reader when it is on the class path (CMYK, Adobe YCCK, broken
 *       ICC profiles, odd APP14 segments); everything else uses the first registered ImageIO
 *       reader. GIF and multi-frame images: the first frame.
 *   <li>Colour: palette, grey (1–16 bit) and RGB (8 or 16 bit) samples are taken as sRGB-encoded
 *       values; 16-bit samples keep their most significant byte (as Pillow's {@code RGB;16B}
 *       raw mode). Other colour spaces (CMYK kept by a reader, ICC RGB) go through Java2D's
 *       colour conversion.
 *   <li>Alpha (PNG, GIF transparency, WebP) is composited onto <b>white</b>: {@code out = (c·a +
 *       255·(255−a)) / 255}, rounded. Note that Pillow's {@code convert("RGB")} (torchvision's
 *       {@code pil_loader}) instead drops alpha, which usually turns transparent pixels black.
 *   <li>JPEG EXIF orientation (tag 0x0112, values 2–8) is applied, as Pillow's {@code
 *       ImageOps.exif_transpose} does (torchvision's loader does not).
 * </ol>
 *
 * <p>Failures throw {@link ImageDecodeException} with a {@link RejectReason}: {@code empty_file},
 * {@code not_an_image} (unknown magic), {@code unsupported_format} (known but undecodable format,
 * e.g. HEIC/AVIF/JPEG 2000, or no reader), {@code truncated} (premature end of data, reported as a
 * decoder warning or an end-of-stream exception), {@code bad_dimensions} (zero size or more than
 * {@link #MAX_PIXELS} pixels) and {@code decode_error} (anything else). Thread-safe: every call
 * uses its own reader.
 */
public final class ImageDecoding {

    /** Largest accepted pixel count: twice Pillow's {@code MAX_IMAGE_PIXELS} (its error limit). */
    public static final long MAX_PIXELS = 2L * 89_478_485L;

    /** The RGB value transparent pixels are composited onto (white). */
    public static final int ALPHA_BACKGROUND = 255;

    /** Image formats recognised from their leading bytes. */
    public enum Format {
        JPEG("jpeg", true),
        PNG("png", true),
        GIF("gif", true),
        BMP("bmp", true),
        WEBP("webp", true),
        TIFF("tiff", true),
        /** HEIF/HEIC/AVIF (ISO BMFF {@code ftyp}): recognised, not decodable. */
        HEIF("heif", false),
        /** JPEG 2000: recognised, not decodable. */
        JPEG2000("jpeg2000", false),
        /** Photoshop PSD: recognised, not decodable. */
        PSD("psd", false),
        /** SVG / XML: recognised, not rasterised. */
        SVG("svg", false);

        private final String imageIoName;
        private final boolean decodable;

        Format(String imageIoName, boolean decodable) {
            this.imageIoName = imageIoName;
            this.decodable = decodable;
        }

        /** The ImageIO format name. */
        public String imageIoName() {
            return imageIoName;
        }

        /** Whether this class can decode the format (given the readers on the class path). */
        public boolean decodable() {
            return decodable;
        }
    }

    static {
        // No disk cache for streams (executors may have read-only or tiny temp dirs), and pick up
        // TwelveMonkeys plugins when they come from a non-system class loader (spark --jars).
        ImageIO.setUseCache(false);
        ImageIO.scanForPlugins();
    }

    private ImageDecoding() {}

    /**
     * Detects the format from the first bytes.
     *
     * @param data encoded bytes (may be shorter than any signature)
     * @return the format, or null when no known signature matches
     */
    public static Format sniff(byte[] data) {
        int n = data.length;
        if (n >= 3 && u(data, 0) == 0xFF && u(data, 1) == 0xD8 && u(data, 2) == 0xFF) {
            return Format.JPEG;
        }
        if (n >= 8 && u(data, 0) == 0x89 && data[1] == 'P' && data[2] == 'N' && data[3] == 'G') {
            return Format.PNG;
        }
        if (n >= 6 && data[0] == 'G' && data[1] == 'I' && data[2] == 'F' && data[3] == '8') {
            return Format.GIF;
        }
        if (n >= 14 && data[0] == 'B' && data[1] == 'M') {
            return Format.BMP;
        }
        if (n >= 12 && ascii(data, 0, 4).equals("RIFF") && ascii(data, 8, 4).equals("WEBP")) {
            return Format.WEBP;
        }
        if (n >= 4
                && ((data[0] == 'I' && data[1] == 'I' && data[2] == 42 && data[3] == 0)
                        || (data[0] == 'M' && data[1] == 'M' && data[2] == 0 && data[3] == 42))) {
            return Format.TIFF;
        }
        if (n >= 12 && ascii(data, 4, 4).equals("ftyp")) {
            return Format.HEIF;
        }
        if (n >= 12 && u(data, 3) == 0x0C && ascii(data, 4, 4).equals("jP  ")) {
            return Format.JPEG2000;
        }
        if (n >= 4 && u(data, 0) == 0xFF && u(data, 1) == 0x4F && u(data, 2) == 0xFF) {
            return Format.JPEG2000; // raw codestream
        }
        if (n >= 4 && ascii(data, 0, 4).equals("8BPS")) {
            return Format.PSD;
        }
        String head = ascii(data, 0, Math.min(n, 256)).trim().toLowerCase(Locale.ROOT);
        if (head.startsWith("<svg") || (head.startsWith("<?xml") && head.contains("<svg"))) {
            return Format.SVG;
        }
        return null;
    }

    /**
     * Decodes bytes into an 8-bit sRGB image of type {@link BufferedImage#TYPE_INT_RGB}, with alpha
     * composited onto white and EXIF orientation applied.
     *
     * @param data the encoded file
     * @return a new TYPE_INT_RGB image
     * @throws ImageDecodeException with the reason the bytes are not a usable image
     */
    public static BufferedImage decode(byte[] data) throws ImageDecodeException {
        if (data == null || data.length == 0) {
            throw new ImageDecodeException(RejectReason.EMPTY_FILE, "0 bytes");
        }
        Format format = sniff(data);
        if (format == null) {
            throw new ImageDecodeException(
                    RejectReason.NOT_AN_IMAGE, "unknown signature " + hexHead(data));
        }
        if (!format.decodable()) {
            throw new ImageDecodeException(
                    RejectReason.UNSUPPORTED_FORMAT, format.name() + " is not supported");
        }
        BufferedImage raw = read(data, format);
        BufferedImage rgb = toRgb(raw);
        if (format == Format.JPEG) {
            int orientation = ExifOrientation.read(data);
            rgb = ExifOrientation.apply(rgb, orientation);
        }
        return rgb;
    }

    /** Picks a reader: TwelveMonkeys first for JPEG, otherwise the first registered one. */
    private static ImageReader readerFor(Format format) throws ImageDecodeException {
        Iterator<ImageReader> it = ImageIO.getImageReadersByFormatName(format.imageIoName());
        ImageReader first = null;
        while (it.hasNext()) {
            ImageReader r = it.next();
            if (format == Format.JPEG && r.getClass().getName().startsWith("com.twelvemonkeys")) {
                if (first != null) {
                    first.dispose();
                }
                return r;
            }
            if (first == null) {
                first = r;
            } else {
                r.dispose();
            }
        }
        if (first == null) {
            throw new ImageDecodeException(
                    RejectReason.UNSUPPORTED_FORMAT, "no ImageIO reader for " + format.name());
        }
        return first;
    }

    private static BufferedImage read(byte[] data, Format format) throws ImageDecodeException {
        ImageReader reader = readerFor(format);
        List<String> warnings = new ArrayList<>();
        try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(data))) {
            reader.setInput(in, true, false);
            reader.addIIOReadWarningListener(
                    new IIOReadWarningListener() {
                        @Override
                        public void warningOccurred(ImageReader source, String warning) {
                            warnings.add(warning);
                        }
                    });
            long w = reader.getWidth(0);
            long h = reader.getHeight(0);
            if (w <= 0 || h <= 0 || w * h > MAX_PIXELS) {
                throw new ImageDecodeException(
                        RejectReason.BAD_DIMENSIONS, "size " + w + "x" + h);
            }
            BufferedImage img = reader.read(0, null);
            for (String warning : warnings) {
                if (looksTruncated(warning)) {
                    throw new ImageDecodeException(RejectReason.TRUNCATED, warning);
                }
            }
            if (img == null) {
                throw new ImageDecodeException(RejectReason.DECODE_ERROR, "reader returned null");
            }
            return img;
        } catch (ImageDecodeException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw classify(e, format, data);
        } finally {
            reader.dispose();
        }
    }

    private static ImageDecodeException classify(Exception e, Format format, byte[] data) {
        if (!hasEndMarker(format, data)) {
            return new ImageDecodeException(RejectReason.TRUNCATED,
                    format.name() + " without end marker: " + e, e);
        }
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof EOFException || looksTruncated(String.valueOf(t.getMessage()))) {
                return new ImageDecodeException(
                        RejectReason.TRUNCATED, format.name() + ": " + t, e);
            }
        }
        return new ImageDecodeException(RejectReason.DECODE_ERROR, format.name() + ": " + e, e);
    }

    /**
     * Whether the file ends like a complete file of its format (JPEG EOI {@code FFD9}, PNG {@code
     * IEND} chunk, GIF trailer {@code 3B}, within the last 64 bytes to allow padding). Consulted
     * only after a decoder failure, to tell truncation from corruption.
     */
    static boolean hasEndMarker(Format format, byte[] d) {
        int from = Math.max(0, d.length - 64);
        switch (format) {
            case JPEG:
                for (int i = d.length - 2; i >= from; i--) {
                    if ((d[i] & 0xFF) == 0xFF && (d[i + 1] & 0xFF) == 0xD9) {
                        return true;
                    }
                }
                return false;
            case PNG:
                return ascii(d, from, d.length - from).contains("IEND");
            case GIF:
                for (int i = d.length - 1; i >= from; i--) {
                    if (d[i] == 0x3B) {
                        return true;
                    }
                }
                return false;
            default:
                return true;
        }
    }

    private static boolean looksTruncated(String message) {
        String m = message.toLowerCase(Locale.ROOT);
        return m.contains("premature end")
                || m.contains("unexpected end")
                || m.contains("truncated")
                || m.contains("end of stream")
                || m.contains("eof");
    }

    /**
     * Converts any decoded image into TYPE_INT_RGB sRGB following the class rules (samples taken as
     * sRGB, 16-bit samples by their high byte, alpha composited onto white).
     *
     * @param src a decoded image
     * @return {@code src} itself if it already is TYPE_INT_RGB, otherwise a new image
     */
    public static BufferedImage toRgb(BufferedImage src) {
        if (src.getType() == BufferedImage.TYPE_INT_RGB) {
            return src;
        }
        int w = src.getWidth();
        int h = src.getHeight();
        BufferedImage dst = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        int[] out = ((DataBufferInt) dst.getRaster().getDataBuffer()).getData();
        ColorModel cm = src.getColorModel();
        Raster raster = src.getRaster();
        int type = src.getType();
        if (type == BufferedImage.TYPE_3BYTE_BGR && fullRaster(raster, w, h, 3)) {
            byte[] b = ((DataBufferByte) raster.getDataBuffer()).getData();
            for (int i = 0, p = 0; i < out.length; i++, p += 3) {
                out[i] = (b[p + 2] & 0xFF) << 16 | (b[p + 1] & 0xFF) << 8 | (b[p] & 0xFF);
            }
            return dst;
        }
        if (type == BufferedImage.TYPE_BYTE_GRAY && fullRaster(raster, w, h, 1)) {
            byte[] b = ((DataBufferByte) raster.getDataBuffer()).getData();
            for (int i = 0; i < out.length; i++) {
                int g = b[i] & 0xFF;
                out[i] = g << 16 | g << 8 | g;
            }
            return dst;
        }
        if (cm instanceof IndexColorModel icm) {
            int[] row = new int[w];
            for (int y = 0; y < h; y++) {
                raster.getSamples(0, y, w, 1, 0, row);
                for (int x = 0; x < w; x++) {
                    int argb = icm.getRGB(row[x]);
                    out[y * w + x] = composite(argb >>> 24, argb >> 16 & 0xFF,
                            argb >> 8 & 0xFF, argb & 0xFF);
                }
            }
            return dst;
        }
        ColorSpace cs = cm.getColorSpace();
        boolean direct = cs.isCS_sRGB() || cs.getType() == ColorSpace.TYPE_GRAY;
        if (direct && !cm.isAlphaPremultiplied()) {
            int colors = cm.getNumColorComponents();
            int bands = raster.getNumBands();
            boolean alpha = cm.hasAlpha() && bands > colors;
            int[] bits = new int[bands];
            for (int b = 0; b < bands; b++) {
                bits[b] = cm.getComponentSize(b);
            }
            int[] px = new int[w * bands];
            int[] c = new int[4];
            for (int y = 0; y < h; y++) {
                raster.getPixels(0, y, w, 1, px);
                for (int x = 0; x < w; x++) {
                    for (int b = 0; b < bands && b < 4; b++) {
                        c[b] = to8(px[x * bands + b], bits[b]);
                    }
                    int a = alpha ? c[colors] : 255;
                    int r = c[0];
                    int g = colors >= 3 ? c[1] : r;
                    int bl = colors >= 3 ? c[2] : r;
                    out[y * w + x] = composite(a, r, g, bl);
                }
            }
            return dst;
        }
        // Any other colour space (CMYK, ICC RGB, premultiplied): Java2D colour conversion over a
        // white background, so alpha composites the same way.
        Graphics2D g = dst.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, w, h);
            g.drawImage(src, 0, 0, null);
        } finally {
            g.dispose();
        }
        return dst;
    }

    private static boolean fullRaster(Raster raster, int w, int h, int bytesPerPixel) {
        return raster.getParent() == null
                && raster.getMinX() == 0
                && raster.getMinY() == 0
                && raster.getDataBuffer().getNumBanks() == 1
                && raster.getDataBuffer().getSize() == w * h * bytesPerPixel;
    }

    private static int to8(int v, int bits) {
        if (bits == 8) {
            return v;
        }
        if (bits > 8) {
            return v >>> (bits - 8);
        }
        int max = (1 << bits) - 1;
        return (v * 255 + max / 2) / max;
    }

    private static int composite(int a, int r, int g, int b) {
        if (a != 255) {
            int bg = ALPHA_BACKGROUND * (255 - a);
            r = (r * a + bg + 127) / 255;
            g = (g * a + bg + 127) / 255;
            b = (b * a + bg + 127) / 255;
        }
        return r << 16 | g << 8 | b;
    }

    private static int u(byte[] d, int i) {
        return d[i] & 0xFF;
    }

    private static String ascii(byte[] d, int off, int len) {
        if (off + len > d.length) {
            return "";
        }
        char[] c = new char[len];
        for (int i = 0; i < len; i++) {
            c[i] = (char) (d[off + i] & 0xFF);
        }
        return new String(c);
    }

    private static String hexHead(byte[] d) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(8, d.length); i++) {
            sb.append(String.format("%02x", d[i] & 0xFF));
        }
        return sb.toString();
    }
}
