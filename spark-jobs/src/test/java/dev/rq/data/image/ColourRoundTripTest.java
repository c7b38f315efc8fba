package dev.rq.data.image;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rq.report.ImageGrid;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/**
 * Colours survive the pipeline's own image handling exactly (issue #15: greens came back teal or
 * brown in the quickstart): a PNG decoded as at ingest ({@link ImageDecoding}), turned into the
 * model's CHW tensor in [−1, 1] ({@link ImageTransform}) and written back as a PNG ({@link
 * ImageGrid}, as decode and the reports do) has every pixel of the original. So a colour shift in
 * reconstructions comes from the model, not from value ranges, clamping or channel order.
 */
class ColourRoundTripTest {

    @Test
    void everyChannelValueAndTheDatasetsGreensAndRedsComeBackUnchanged() throws Exception {
        int s = 64;
        BufferedImage src = new BufferedImage(s, s, BufferedImage.TYPE_INT_RGB);
        int[] named = {0x2E7D32, 0x43A047, 0x00A651, 0x006C35, 0xD32F2F, 0xE53935, 0xFF0000, 0x00FF00, 0x0000FF,
            0x008080, 0x8B4513, 0xFFA500, 0xFFFFFF, 0x000000};
        for (int y = 0; y < s; y++) {
            for (int x = 0; x < s; x++) {
                int i = y * s + x;
                int rgb;
                if (i < 256 * 3) { // every value of each channel alone, the others off
                    rgb = (i % 256) << (16 - 8 * (i / 256));
                } else if (i < 256 * 4) { // every gray level
                    int v = i % 256;
                    rgb = v << 16 | v << 8 | v;
                } else {
                    rgb = named[i % named.length];
                }
                src.setRGB(x, y, rgb);
            }
        }
        BufferedImage decoded = ImageDecoding.decode(ImageGrid.png(src));
        float[] chw = new float[3 * s * s];
        new ImageTransform(s, ImageTransform.Mode.EVAL).apply(decoded, 0, chw, 0);
        // the tensor holds R, G, B planes in [−1, 1]: pure green (the last pixel of the G-only run) is (−1, 1, −1)
        int green = 256 + 255;
        assertThat(new float[] {chw[green], chw[s * s + green], chw[2 * s * s + green]})
                .containsExactly(-1f, 1f, -1f);
        BufferedImage back = ImageIO.read(new ByteArrayInputStream(ImageGrid.png(ImageGrid.image(chw, 0, 3, s, s))));
        for (int y = 0; y < s; y++) {
            for (int x = 0; x < s; x++) {
                assertThat(Integer.toHexString(back.getRGB(x, y) & 0xFFFFFF)).as("pixel (%d, %d)", x, y)
                        .isEqualTo(Integer.toHexString(src.getRGB(x, y) & 0xFFFFFF));
            }
        }
    }
}
