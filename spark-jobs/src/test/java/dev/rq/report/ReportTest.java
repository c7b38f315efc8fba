package dev.rq.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

class ReportTest {

    @Test
    void pixelConversionFollowsSaveImage() {
        assertThat(ImageGrid.toByte(-1f)).isZero();
        assertThat(ImageGrid.toByte(-7f)).isZero();
        assertThat(ImageGrid.toByte(1f)).isEqualTo(255);
        assertThat(ImageGrid.toByte(3f)).isEqualTo(255);
        assertThat(ImageGrid.toByte(0f)).isEqualTo(128); // 127.5 + 0.5
        // NaN is black: torchvision's save_image (clamp keeps NaN, then a uint8 cast) writes 0 on x86, as
        // Java's (int) NaN does; a conversion that turned NaN into grey or white would hide broken pixels
        assertThat(ImageGrid.toByte(Float.NaN)).isZero();
    }

    @Test
    void gridLaysOutImagesRowMajor() throws Exception {
        int n = 5;
        int h = 3;
        int w = 4;
        float[] x = new float[n * 3 * h * w];
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < 3; c++) {
                for (int p = 0; p < h * w; p++) {
                    x[((i * 3) + c) * h * w + p] = c == 0 ? (i / 4f) * 2 - 1 : -1f; // red = i/4
                }
            }
        }
        BufferedImage g = ImageGrid.grid(x, n, 3, h, w, 3, 1, 0x00FF00);
        assertThat(g.getWidth()).isEqualTo(3 * w + 4);
        assertThat(g.getHeight()).isEqualTo(2 * h + 3);
        assertThat(g.getRGB(0, 0) & 0xFFFFFF).isEqualTo(0x00FF00); // padding
        // image 4 is row 1, column 1; fully red
        assertThat(g.getRGB(1 + (w + 1), 1 + (h + 1)) & 0xFFFFFF).isEqualTo(0xFF0000);
        assertThat(g.getRGB(1, 1) & 0xFFFFFF).isEqualTo(0x000000);
        BufferedImage back = ImageIO.read(new ByteArrayInputStream(ImageGrid.png(g)));
        assertThat(back.getRGB(1 + (w + 1), 1 + (h + 1)) & 0xFFFFFF).isEqualTo(0xFF0000);
        BufferedImage gray = ImageGrid.image(new float[] {1f, -1f}, 0, 1, 1, 2);
        assertThat(gray.getRGB(0, 0) & 0xFFFFFF).isEqualTo(0xFFFFFF);
        assertThatThrownBy(() -> ImageGrid.image(x, 9, 3, h, w)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void lineChartIsAPng() throws Exception {
        byte[] png = LineChart.of("loss", "step", "value")
                .add("recon", new double[] {0, 10, 20}, new double[] {1.0, 0.5, 0.25})
                .add("commit", new double[] {0.3, Double.NaN, 0.1})
                .size(400, 300)
                .logY(true)
                .png();
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
        assertThat(img.getWidth()).isEqualTo(400);
        assertThat(img.getHeight()).isEqualTo(300);
        assertThat(LineChart.of("empty", "x", "y").png()).isNotEmpty();
        assertThatThrownBy(() -> LineChart.of("t", "x", "y").add("bad", new double[2], new double[3]))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void htmlIsEscaped() {
        String html = HtmlReport.titled("a <b> & c")
                .paragraph("x \"y\"")
                .keyValues(Map.of("k", "<v>"))
                .table(List.of("h"), List.of(List.of("<td>")))
                .image("grid.png", "g")
                .pre("{\"a\": 1}")
                .toHtml();
        assertThat(html).startsWith("<!DOCTYPE html>").contains("<title>a &lt;b&gt; &amp; c</title>")
                .contains("x &quot;y&quot;").contains("&lt;v&gt;").contains("<img src=\"grid.png\"")
                .doesNotContain("<td><td>");
        assertThatThrownBy(() -> HtmlReport.titled("t").image("../x.png", "x"))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
