package dev.rq.model.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.rq.model.util.Rng;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Block statistics: merging equals one pass, is deterministic, and round-trips through .npz. */
class GaussianStatsTest {

    static float[][] features(int n, int d, long seed) {
        Rng rng = new Rng(seed);
        float[][] f = new float[n][d];
        for (float[] r : f) {
            for (int j = 0; j < d; j++) {
                r[j] = (float) (5 + rng.nextGaussian() * (1 + j % 3));
            }
        }
        return f;
    }

    @Test
    void mergedBlocksEqualOneBlock() {
        float[][] f = features(157, 23, 1);
        GaussianStats whole = GaussianStats.of(f);
        GaussianStats.Block merged = null;
        for (int from = 0; from < f.length; from += 40) {
            GaussianStats.Block b = GaussianStats.Block.of(Arrays.copyOfRange(f, from, Math.min(f.length, from + 40)));
            merged = merged == null ? b : merged.merge(b);
        }
        GaussianStats m = merged.toStats();
        assertThat(m.count()).isEqualTo(157);
        for (int i = 0; i < 23; i++) {
            assertThat(m.mean()[i]).isCloseTo(whole.mean()[i], within(1e-12));
            for (int j = 0; j < 23; j++) {
                assertThat(m.covariance()[i][j]).isCloseTo(whole.covariance()[i][j], within(1e-11));
            }
        }
    }

    @Test
    void blockStatisticsAreBitIdenticalWhenRecomputed() {
        float[][] f = features(300, 64, 2);
        GaussianStats.Block a = GaussianStats.Block.of(f);
        GaussianStats.Block b = GaussianStats.Block.of(f);
        assertThat(a.mean()).containsExactly(b.mean());
        for (int i = 0; i < 64; i++) {
            assertThat(a.scatter()[i]).containsExactly(b.scatter()[i]);
            for (int j = 0; j < 64; j++) {
                assertThat(a.scatter()[i][j]).isEqualTo(a.scatter()[j][i]);
            }
        }
    }

    @Test
    void npzRoundTrip() throws IOException {
        GaussianStats s = GaussianStats.of(features(50, 7, 3));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        s.writeNpz(out);
        GaussianStats r = GaussianStats.readNpz(new ByteArrayInputStream(out.toByteArray()), "mem");
        assertThat(r.count()).isEqualTo(50);
        assertThat(r.mean()).containsExactly(s.mean());
        for (int i = 0; i < 7; i++) {
            assertThat(r.covariance()[i]).containsExactly(s.covariance()[i]);
        }
    }
}
