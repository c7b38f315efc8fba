package dev.rq.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rq.data.image.ImageDecodeException;
import dev.rq.data.image.ImageDecoding;
import dev.rq.data.image.RejectReason;
import java.awt.image.BufferedImage;
import java.awt.image.DataBuffer;
import java.awt.image.IndexColorModel;
import java.awt.image.WritableRaster;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ImageDecodingTest {

    private static void assertColor(BufferedImage img, int x, int y, int rgb, int tol) {
        int p = img.getRGB(x, y);
        int[] got = {p >> 16 & 0xFF, p >> 8 & 0xFF, p & 0xFF};
        int[] exp = {rgb >> 16 & 0xFF, rgb >> 8 & 0xFF, rgb & 0xFF};
        for (int c = 0; c < 3; c++) {
            assertThat(Math.abs(got[c] - exp[c]))
                    .as("pixel (%d,%d) = %06x, expected %06x", x, y, p & 0xFFFFFF, rgb)
                    .isLessThanOrEqualTo(tol);
        }
    }

    private static RejectReason reasonOf(byte[] data) {
        try {
            ImageDecoding.decode(data);
            return null;
        } catch (ImageDecodeException e) {
            return e.reason();
        }
    }

    @Test
    void baselineAndProgressiveJpeg() throws Exception {
        BufferedImage src = TestImages.solid(40, 24, 0x3366CC);
        for (boolean progressive : new boolean[] {false, true}) {
            byte[] jpg = TestImages.jpeg(src, 0.95f, progressive);
            BufferedImage img = ImageDecoding.decode(jpg);
            assertThat(img.getType()).isEqualTo(BufferedImage.TYPE_INT_RGB);
            assertThat(img.getWidth()).isEqualTo(40);
            assertThat(img.getHeight()).isEqualTo(24);
            assertColor(img, 20, 12, 0x3366CC, 4);
        }
        // the progressive file really is progressive (SOF2 marker)
        byte[] prog = TestImages.jpeg(src, 0.95f, true);
        assertThat(indexOf(prog, (byte) 0xFF, (byte) 0xC2)).isPositive();
    }

    @Test
    void adobeCmykAndYcckJpeg() throws Exception {
        // Adobe CMYK stores inverted ink: (255,0,0,255) = C 0, M 100%, Y 100%, K 0 = red
        byte[] cmyk = TestImages.withAdobeMarker(
                TestImages.fourComponentJpeg(16, 16, new int[] {255, 0, 0, 255}), 0);
        assertColor(ImageDecoding.decode(cmyk), 8, 8, 0xFF0000, 6);
        // YCCK: YCbCr of the (inverted) CMY plus K; (179,171,1,255) decodes to red as well
        byte[] ycck = TestImages.withAdobeMarker(
                TestImages.fourComponentJpeg(16, 16, new int[] {179, 171, 1, 255}), 2);
        assertColor(ImageDecoding.decode(ycck), 8, 8, 0xFF0000, 6);
    }

    @Test
    void grayscaleJpegAndPng() throws Exception {
        BufferedImage gray = new BufferedImage(8, 8, BufferedImage.TYPE_BYTE_GRAY);
        WritableRaster r = gray.getRaster();
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 8; x++) {
                r.setSample(x, y, 0, 100);
            }
        }
        // grey values are taken as sRGB-encoded: 100 -> (100,100,100), no linear-gamma lift
        assertColor(ImageDecoding.decode(TestImages.encode(gray, "png")), 3, 3, 0x646464, 0);
        assertColor(ImageDecoding.decode(TestImages.jpeg(gray, 0.95f, false)), 3, 3, 0x646464, 2);
    }

    @Test
    void paletteAndAlphaPngCompositeOntoWhite() throws Exception {
        byte[] red = {(byte) 255, 0, 0};
        byte[] green = {0, (byte) 255, 0};
        byte[] blue = {0, 0, (byte) 255};
        // palette index 2 is fully transparent
        IndexColorModel icm = new IndexColorModel(8, 3, red, green, blue, 2);
        BufferedImage pal = new BufferedImage(4, 1, BufferedImage.TYPE_BYTE_INDEXED, icm);
        pal.getRaster().setSamples(0, 0, 4, 1, 0, new int[] {0, 1, 2, 0});
        BufferedImage p = ImageDecoding.decode(TestImages.encode(pal, "png"));
        assertColor(p, 0, 0, 0xFF0000, 0);
        assertColor(p, 1, 0, 0x00FF00, 0);
        assertColor(p, 2, 0, 0xFFFFFF, 0); // transparent -> white

        BufferedImage argb = new BufferedImage(3, 1, BufferedImage.TYPE_INT_ARGB);
        argb.setRGB(0, 0, 0xFF000000); // opaque black
        argb.setRGB(1, 0, 0x00000000); // transparent black
        argb.setRGB(2, 0, 0x80000000); // 50% black: 255 * (1 - 128/255) = 127
        BufferedImage a = ImageDecoding.decode(TestImages.encode(argb, "png"));
        assertColor(a, 0, 0, 0x000000, 0);
        assertColor(a, 1, 0, 0xFFFFFF, 0);
        assertColor(a, 2, 0, 0x7F7F7F, 0);
    }

    @Test
    void sixteenBitPng() throws Exception {
        BufferedImage g16 = new BufferedImage(4, 4, BufferedImage.TYPE_USHORT_GRAY);
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 4; x++) {
                g16.getRaster().setSample(x, y, 0, 0xABCD);
            }
        }
        byte[] png = TestImages.encode(g16, "png");
        assertThat(png[24]).as("PNG bit depth").isEqualTo((byte) 16);
        // 16-bit samples keep their high byte
        assertColor(ImageDecoding.decode(png), 1, 1, 0xABABAB, 0);

        // 16-bit RGB + alpha
        java.awt.color.ColorSpace srgb = java.awt.color.ColorSpace.getInstance(
                java.awt.color.ColorSpace.CS_sRGB);
        java.awt.image.ComponentColorModel cm = new java.awt.image.ComponentColorModel(srgb,
                true, false, java.awt.Transparency.TRANSLUCENT, DataBuffer.TYPE_USHORT);
        WritableRaster wr = cm.createCompatibleWritableRaster(2, 1);
        wr.setPixel(0, 0, new int[] {0xFFFF, 0x8000, 0x0000, 0xFFFF});
        wr.setPixel(1, 0, new int[] {0x0000, 0x0000, 0x0000, 0x0000});
        BufferedImage rgba16 = new BufferedImage(cm, wr, false, null);
        byte[] png2 = TestImages.encode(rgba16, "png");
        assertThat(png2[24]).isEqualTo((byte) 16);
        BufferedImage d = ImageDecoding.decode(png2);
        assertColor(d, 0, 0, 0xFF8000, 0);
        assertColor(d, 1, 0, 0xFFFFFF, 0);
    }

    @Test
    void gifAndBmp() throws Exception {
        BufferedImage src = TestImages.solid(10, 6, 0xFF0000);
        for (String f : new String[] {"gif", "bmp"}) {
            BufferedImage d = ImageDecoding.decode(TestImages.encode(src, f));
            assertThat(d.getWidth()).isEqualTo(10);
            assertThat(d.getHeight()).isEqualTo(6);
            assertColor(d, 5, 3, 0xFF0000, 0);
        }
    }

    @Test
    void exifOrientationIsApplied() throws Exception {
        // stored 64x32: quadrants TL red, TR green, BL blue, BR white
        BufferedImage src = new BufferedImage(64, 32, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 64; x++) {
                int c = y < 16 ? (x < 32 ? 0xFF0000 : 0x00FF00) : (x < 32 ? 0x0000FF : 0xFFFFFF);
                src.setRGB(x, y, c);
            }
        }
        byte[] jpg = TestImages.jpeg(src, 1.0f, false);
        // (orientation, little-endian?, expected colours at display TL, TR, BL, BR)
        Object[][] cases = {
            {1, false, new int[] {0xFF0000, 0x00FF00, 0x0000FF, 0xFFFFFF}},
            {3, true, new int[] {0xFFFFFF, 0x0000FF, 0x00FF00, 0xFF0000}},
            {6, false, new int[] {0x0000FF, 0xFF0000, 0xFFFFFF, 0x00FF00}},
            {8, true, new int[] {0x00FF00, 0xFFFFFF, 0xFF0000, 0x0000FF}},
            {2, false, new int[] {0x00FF00, 0xFF0000, 0xFFFFFF, 0x0000FF}},
            {5, false, new int[] {0xFF0000, 0x0000FF, 0x00FF00, 0xFFFFFF}},
        };
        for (Object[] c : cases) {
            int o = (Integer) c[0];
            int[] exp = (int[]) c[2];
            BufferedImage d = ImageDecoding.decode(
                    TestImages.withExifOrientation(jpg, o, (Boolean) c[1]));
            boolean swap = o >= 5;
            assertThat(d.getWidth()).as("width, orientation %d", o).isEqualTo(swap ? 32 : 64);
            int w = d.getWidth();
            int h = d.getHeight();
            assertColor(d, w / 4, h / 4, exp[0], 12);
            assertColor(d, 3 * w / 4, h / 4, exp[1], 12);
            assertColor(d, w / 4, 3 * h / 4, exp[2], 12);
            assertColor(d, 3 * w / 4, 3 * h / 4, exp[3], 12);
        }
    }

    @Test
    void formatIsDetectedFromBytesNotName() throws Exception {
        byte[] png = TestImages.encode(TestImages.solid(5, 5, 0x00FF00), "png");
        assertThat(ImageDecoding.sniff(png)).isEqualTo(ImageDecoding.Format.PNG);
        assertColor(ImageDecoding.decode(png), 2, 2, 0x00FF00, 0);
    }

    @Test
    void failuresCarryReasonCodes() throws Exception {
        assertThat(reasonOf(new byte[0])).isEqualTo(RejectReason.EMPTY_FILE);
        assertThat(reasonOf("hello, not an image".getBytes(StandardCharsets.UTF_8)))
                .isEqualTo(RejectReason.NOT_AN_IMAGE);
        byte[] heic = new byte[32];
        System.arraycopy("\0\0\0\u0018ftypheic".getBytes(StandardCharsets.ISO_8859_1), 0, heic, 0,
                12);
        assertThat(reasonOf(heic)).isEqualTo(RejectReason.UNSUPPORTED_FORMAT);
        assertThat(reasonOf("<svg xmlns='http://www.w3.org/2000/svg'/>".getBytes(
                StandardCharsets.UTF_8))).isEqualTo(RejectReason.UNSUPPORTED_FORMAT);

        BufferedImage noise = TestImages.noise(64, 64, 7);
        for (byte[] full : new byte[][] {TestImages.jpeg(noise, 0.9f, false),
                TestImages.encode(noise, "png"), TestImages.encode(noise, "gif"),
                TestImages.encode(noise, "bmp")}) {
            assertThat(reasonOf(full)).isNull();
            assertThat(reasonOf(Arrays.copyOf(full, full.length * 6 / 10)))
                    .as("truncated %s", ImageDecoding.sniff(full))
                    .isEqualTo(RejectReason.TRUNCATED);
        }
        // a complete-looking JPEG whose entropy-coded data is garbage -> decode_error
        byte[] jpg = TestImages.jpeg(noise, 0.9f, false);
        byte[] corrupt = jpg.clone();
        int sof = indexOf(corrupt, (byte) 0xFF, (byte) 0xC0);
        corrupt[sof + 5] = 0; // height 0 ...
        corrupt[sof + 6] = 0;
        corrupt[sof + 7] = 0; // ... and width 0
        corrupt[sof + 8] = 0;
        assertThat(reasonOf(corrupt)).isIn(RejectReason.DECODE_ERROR,
                RejectReason.BAD_DIMENSIONS);
        byte[] junkAfterHeader = Arrays.copyOf(jpg, jpg.length);
        Arrays.fill(junkAfterHeader, 6, 40, (byte) 0x11); // keep FF D8 FF E0
        assertThat(reasonOf(junkAfterHeader)).isEqualTo(RejectReason.DECODE_ERROR);
    }

    @ParameterizedTest
    @ValueSource(strings = {"not_an_image", "empty_file", "truncated", "decode_error",
        "unsupported_format"})
    void reasonCodesRoundTrip(String code) {
        assertThat(RejectReason.fromCode(code).code()).isEqualTo(code);
    }

    @Test
    void decodeExceptionNamesReason() {
        assertThatThrownBy(() -> ImageDecoding.decode(new byte[] {1, 2, 3}))
                .isInstanceOf(ImageDecodeException.class)
                .hasMessageStartingWith("not_an_image");
    }

    private static int indexOf(byte[] d, byte a, byte b) {
        for (int i = 0; i + 1 < d.length; i++) {
            if (d[i] == a && d[i + 1] == b) {
                return i;
            }
        }
        return -1;
    }
}
