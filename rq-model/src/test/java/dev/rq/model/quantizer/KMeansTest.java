package dev.rq.model.quantizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.distributed.Collective;
import dev.rq.model.distributed.ThreadedCollectives;
import dev.rq.model.engine.Engines;
import dev.rq.model.nn.Tensors;
import dev.rq.model.sid.SyntheticItems;
import dev.rq.model.util.Rng;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class KMeansTest {

    @BeforeAll
    static void engine() {
        Engines.pytorch(1);
    }

    /** 4 well separated blobs in 2-D: k-means++ and Lloyd find their centres and sizes. */
    @Test
    void findsSeparatedClusters() {
        float[][] centres = {{0, 0}, {10, 0}, {0, 10}, {10, 10}};
        int per = 50;
        float[] pts = new float[4 * per * 2];
        Rng r = new Rng(7);
        for (int c = 0; c < 4; c++) {
            for (int i = 0; i < per; i++) {
                pts[(c * per + i) * 2] = centres[c][0] + (float) (0.1 * r.nextGaussian());
                pts[(c * per + i) * 2 + 1] = centres[c][1] + (float) (0.1 * r.nextGaussian());
            }
        }
        try (NDManager m = Engines.newManager()) {
            NDArray x = Tensors.of(m, pts, new Shape(4 * per, 2));
            KMeans.Iteration it = KMeans.fit(x, 4, 10, Rng.of(1), Collective.local());
            assertThat(it.counts()).containsOnly(50.0);
            for (float[] c : centres) {
                double best = Double.MAX_VALUE;
                for (int k = 0; k < 4; k++) {
                    double dx = it.centroids()[2 * k] - c[0];
                    double dy = it.centroids()[2 * k + 1] - c[1];
                    best = Math.min(best, Math.sqrt(dx * dx + dy * dy));
                }
                assertThat(best).as("nearest centroid to %s", Arrays.toString(c)).isLessThan(0.05);
            }
            assertThat(it.inertia()).isLessThan(200 * 2 * 0.02);
        }
    }

    /** Two ranks holding the halves of the points compute what one rank computes on all of them. */
    @Test
    void twoRanksEqualOneRank() throws Exception {
        int n = 2000;
        int dim = 16;
        float[] pts = new SyntheticItems(3, dim, 40, 8, 0.3).embeddings(0, n);
        float[] single;
        double[] singleCounts;
        try (NDManager m = Engines.newManager()) {
            KMeans.Iteration it = KMeans.fit(Tensors.of(m, pts, new Shape(n, dim)), 32, 8, Rng.of(5), Collective.local());
            single = it.centroids();
            singleCounts = it.counts();
        }
        List<KMeans.Iteration> ranks = ThreadedCollectives.run(2, c -> {
            int half = n / 2;
            float[] mine = Arrays.copyOfRange(pts, c.rank() * half * dim, (c.rank() + 1) * half * dim);
            try (NDManager m = Engines.newManager()) {
                return KMeans.fit(Tensors.of(m, mine, new Shape(half, dim)), 32, 8, Rng.of(5), c);
            }
        });
        assertThat(ranks.get(1).centroids()).containsExactly(ranks.get(0).centroids());
        assertThat(ranks.get(0).counts()).containsExactly(singleCounts);
        for (int i = 0; i < single.length; i++) {
            assertThat(ranks.get(0).centroids()[i]).as("centroid value %d", i).isCloseTo(single[i], within(1e-6f));
        }
    }

    /** With fewer points than centroids, every point becomes a centroid and nothing fails. */
    @Test
    void fewerPointsThanCentroids() {
        float[] pts = {0, 0, 1, 1, 2, 2};
        try (NDManager m = Engines.newManager()) {
            KMeans.Iteration it = KMeans.fit(Tensors.of(m, pts, new Shape(3, 2)), 5, 3, Rng.of(2), Collective.local());
            assertThat(it.inertia()).isZero();
            assertThat(Arrays.stream(it.counts()).sum()).isEqualTo(3.0);
            for (int p = 0; p < 3; p++) {
                boolean found = false;
                for (int k = 0; k < 5; k++) {
                    found |= it.centroids()[2 * k] == pts[2 * p] && it.centroids()[2 * k + 1] == pts[2 * p + 1];
                }
                assertThat(found).as("point %d is a centroid", p).isTrue();
            }
        }
    }

    /** The same seed gives the same centroids; another seed gives other ones. */
    @Test
    void seededAndDeterministic() {
        float[] pts = new SyntheticItems(9, 8, 20, 4, 0.5).embeddings(0, 500);
        try (NDManager m = Engines.newManager()) {
            NDArray x = Tensors.of(m, pts, new Shape(500, 8));
            float[] a = KMeans.seed(x, 16, Rng.of(11), Collective.local());
            float[] b = KMeans.seed(x, 16, Rng.of(11), Collective.local());
            float[] c = KMeans.seed(x, 16, Rng.of(12), Collective.local());
            assertThat(b).containsExactly(a);
            assertThat(c).isNotEqualTo(a);
        }
    }
}
