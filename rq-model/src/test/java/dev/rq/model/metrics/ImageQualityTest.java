package dev.rq.model.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.rq.model.npy.Npy;
import dev.rq.model.npy.Npz;
import java.io.IOException;
import java.io.InputStream;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** PSNR and SSIM against scikit-image's Gaussian SSIM (golden values, see make_reference.py). */
class ImageQualityTest {

    @Test
    void matchReferenceImplementation() throws IOException {
        Map<String, Npy.Array> ref;
        try (InputStream in = getClass().getResourceAsStream("/metrics/ssim-reference.npz")) {
            ref = Npz.read(in, "ssim-reference.npz");
        }
        long[] shape = ref.get("original").shape(); // [2, 3, 24, 31]
        float[] a = floats(ref.get("original").data());
        float[] b = floats(ref.get("recon").data());
        int c = (int) shape[1];
        int h = (int) shape[2];
        int w = (int) shape[3];
        int len = c * h * w;
        for (int i = 0; i < shape[0]; i++) {
            assertThat(Ssim.of(a, i * len, b, i * len, c, h, w)).as("ssim %d", i)
                    .isCloseTo(ref.get("ssim").data()[i], within(1e-9));
            assertThat(Psnr.of(a, i * len, b, i * len, len)).as("psnr %d", i)
                    .isCloseTo(ref.get("psnr").data()[i], within(1e-9));
        }
    }

    @Test
    void identicalImagesArePerfect() {
        float[] x = new float[3 * 16 * 16];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) Math.sin(i * 0.37);
        }
        assertThat(Ssim.of(x, 0, x, 0, 3, 16, 16)).isCloseTo(1.0, within(1e-12));
        assertThat(Psnr.of(x, 0, x, 0, x.length)).isEqualTo(Psnr.MAX_PSNR);
    }

    @Test
    void tooSmallImagesAreRejected() {
        float[] x = new float[3 * 10 * 40];
        assertThatThrownBy(() -> Ssim.of(x, 0, x, 0, 3, 10, 40)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("at least 11x11");
    }

    static float[] floats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }
}
