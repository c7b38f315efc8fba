package dev.rq.model.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** The Inception Score on distributions whose score is known in closed form. */
class InceptionScoreTest {

    @Test
    void identicalPredictionsScoreOne() {
        float[][] logits = new float[40][5];
        for (float[] l : logits) {
            l[2] = 3;
            l[4] = 1;
        }
        InceptionScore.Result r = InceptionScore.of(logits, 4);
        assertThat(r.mean()).isCloseTo(1.0, within(1e-12));
        assertThat(r.std()).isCloseTo(0.0, within(1e-12));
    }

    @Test
    void confidentEvenlySpreadPredictionsScoreTheNumberOfClasses() {
        // each part holds every one of the 4 classes equally often, each predicted with certainty
        float[][] logits = new float[80][4];
        for (int i = 0; i < 80; i++) {
            logits[i][i % 4] = 200; // softmax ≈ one-hot
        }
        InceptionScore.Result r = InceptionScore.of(logits, 10);
        assertThat(r.parts()).isEqualTo(10);
        assertThat(r.mean()).isCloseTo(4.0, within(1e-9));
    }

    @Test
    void partsFollowTheOfficialIntegerBoundaries() {
        // [j·n/S, (j+1)·n/S) with n = 23, S = 10: sizes 2,2,2,3,2,2,3,2,2,3
        int[] sizes = new int[10];
        for (int i = 0; i < 23; i++) {
            sizes[InceptionScore.partOf(i, 23, 10)]++;
        }
        assertThat(sizes).containsExactly(2, 2, 2, 3, 2, 2, 3, 2, 2, 3);
    }
}
