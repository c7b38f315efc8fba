package dev.rq.data;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rq.data.image.Resampling;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Bit-exact parity with Pillow's bilinear resize (golden file generated with Pillow 9.4.0). */
class ResamplingTest {

    static int[] pattern(int w, int h) {
        int[] px = new int[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int r = (x * 37 + y * 11) % 256;
                int g = (x * x + 3 * y) % 256;
                int b = (x * y * 5 + 17) % 256;
                px[y * w + x] = r << 16 | g << 8 | b;
            }
        }
        return px;
    }

    @Test
    void matchesPillowBilinearBitForBit() throws Exception {
        List<String> lines = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(
                getClass().getResourceAsStream("/dev/rq/data/pillow-bilinear-golden.txt"),
                StandardCharsets.US_ASCII))) {
            for (String l; (l = r.readLine()) != null; ) {
                if (!l.startsWith("#") && !l.isBlank()) {
                    lines.add(l);
                }
            }
        }
        assertThat(lines).hasSize(7);
        int[] src = pattern(23, 17);
        for (String l : lines) {
            String[] f = l.trim().split(" ");
            int w = Integer.parseInt(f[0]);
            int h = Integer.parseInt(f[1]);
            int[] expected = new int[w * h];
            for (int i = 0; i < expected.length; i++) {
                expected[i] = Integer.parseInt(f[2 + i], 16);
            }
            assertThat(Resampling.resize(src, 23, 17, w, h)).as("%dx%d", w, h)
                    .containsExactly(expected);
        }
    }

    @Test
    void shorterSideSizeTruncatesLikeTorchvision() {
        assertThat(Resampling.shorterSideSize(500, 375, 256)).containsExactly(341, 256);
        assertThat(Resampling.shorterSideSize(375, 500, 256)).containsExactly(256, 341);
        assertThat(Resampling.shorterSideSize(64, 64, 32)).containsExactly(32, 32);
    }
}
