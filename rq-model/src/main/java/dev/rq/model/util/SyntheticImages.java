package dev.rq.model.util;

/**
 * Seeded synthetic images for tests and benchmarks: smooth colour gradients with a few discs, in
 * [−1, 1], NCHW. Structured enough that an auto-encoder can learn them, cheap to generate.
 */
public final class SyntheticImages {

    private SyntheticImages() {}

    /** @return a [n, 3, size, size] batch, row-major, values in [−1, 1] */
    public static float[] batch(int n, int size, long seed) {
        float[] out = new float[n * 3 * size * size];
        for (int i = 0; i < n; i++) {
            Rng rng = Rng.of(seed, i);
            double[] base = {rng.nextDouble() * 2 - 1, rng.nextDouble() * 2 - 1, rng.nextDouble() * 2 - 1};
            double[] grad = {rng.nextDouble() - 0.5, rng.nextDouble() - 0.5, rng.nextDouble() - 0.5};
            int discs = 1 + rng.nextInt(3);
            double[][] d = new double[discs][6];
            for (double[] disc : d) {
                disc[0] = rng.nextDouble() * size;
                disc[1] = rng.nextDouble() * size;
                disc[2] = size * (0.1 + 0.25 * rng.nextDouble());
                disc[3] = rng.nextDouble() * 2 - 1;
                disc[4] = rng.nextDouble() * 2 - 1;
                disc[5] = rng.nextDouble() * 2 - 1;
            }
            for (int y = 0; y < size; y++) {
                for (int x = 0; x < size; x++) {
                    double t = (x + y) / (2.0 * size);
                    double[] px = new double[3];
                    for (int c = 0; c < 3; c++) {
                        px[c] = base[c] + grad[c] * (2 * t - 1);
                    }
                    for (double[] disc : d) {
                        double dx = x - disc[0];
                        double dy = y - disc[1];
                        if (dx * dx + dy * dy < disc[2] * disc[2]) {
                            px[0] = disc[3];
                            px[1] = disc[4];
                            px[2] = disc[5];
                        }
                    }
                    for (int c = 0; c < 3; c++) {
                        out[((i * 3 + c) * size + y) * size + x] = (float) Math.max(-1, Math.min(1, px[c]));
                    }
                }
            }
        }
        return out;
    }
}
