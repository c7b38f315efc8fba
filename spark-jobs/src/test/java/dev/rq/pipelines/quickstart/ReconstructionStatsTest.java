package dev.rq.pipelines.quickstart;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.rq.tables.CodeUsage;
import org.junit.jupiter.api.Test;

/** PSNR, summaries and code-usage perplexity. */
class ReconstructionStatsTest {

    @Test
    void psnrOfKnownErrors() {
        float[] a = {-1f, -1f, 1f, 1f};
        // [0,0,1,1] vs [0.1,0.1,0.9,0.9]: MSE 0.01 -> 20 dB
        float[] b = {-0.8f, -0.8f, 0.8f, 0.8f};
        assertThat(ReconstructionStats.psnr(a, 0, b, 0, 4)).isCloseTo(20.0, within(1e-4));
        assertThat(ReconstructionStats.psnr(a, 0, a, 0, 4)).isEqualTo(ReconstructionStats.MAX_PSNR);
        // reconstructions outside [-1, 1] are clamped first: no error here
        float[] c = {-3f, -1.5f, 1.2f, 7f};
        assertThat(ReconstructionStats.psnr(a, 0, c, 0, 4)).isEqualTo(ReconstructionStats.MAX_PSNR);
        // offsets address the second image of a batch
        float[] two = {0f, 0f, -1f, -1f, 1f, 1f};
        assertThat(ReconstructionStats.psnr(two, 2, a, 0, 2)).isEqualTo(ReconstructionStats.MAX_PSNR);
        // all-black vs all-white: MSE 1 -> 0 dB
        assertThat(ReconstructionStats.psnr(new float[] {-1f}, 0, new float[] {1f}, 0, 1)).isEqualTo(0.0);
    }

    @Test
    void summary() {
        ReconstructionStats.Summary s = ReconstructionStats.Summary.of(new double[] {30, 10, 20, 40});
        assertThat(s.n()).isEqualTo(4);
        assertThat(s.mean()).isEqualTo(25);
        assertThat(s.median()).isEqualTo(25);
        assertThat(s.min()).isEqualTo(10);
        assertThat(s.max()).isEqualTo(40);
        assertThat(ReconstructionStats.Summary.of(new double[] {3, 1, 2}).median()).isEqualTo(2);
    }

    @Test
    void perplexityOfUsageHistograms() {
        assertThat(CodeUsage.perplexity(new long[] {5, 5, 5, 5})).isCloseTo(4.0, within(1e-9));
        assertThat(CodeUsage.perplexity(new long[] {0, 9, 0, 0})).isCloseTo(1.0, within(1e-9));
        assertThat(CodeUsage.perplexity(new long[4])).isEqualTo(0.0);
        CodeUsage u = new CodeUsage(new long[][] {{3, 0, 1}, {1, 1, 2}});
        assertThat(u.depth()).isEqualTo(2);
        assertThat(u.used(0)).isEqualTo(2);
        assertThat(u.total(1)).isEqualTo(4);
        assertThat(u.topShare(0)).isEqualTo(0.75);
        assertThat(u.sortedDescending(1)).containsExactly(2, 1, 1);
    }
}
