package dev.rq.model.util;

/**
 * A small, fast, splittable pseudo-random generator (SplitMix64) whose whole state is one
 * {@code long}, so it can be written into a checkpoint and restored exactly. Every random draw the
 * project makes on the host (initialisation, data order, augmentation, codebook restarts,
 * sampling) goes through this class, seeded from the run seed.
 */
public final class Rng {

    private long state;

    public Rng(long seed) {
        this.state = seed;
    }

    /** @return a generator for an independent stream derived from {@code seed} and {@code keys} */
    public static Rng of(long seed, long... keys) {
        long s = mix(seed ^ 0x5DEECE66DL);
        for (long k : keys) {
            s = mix(s + 0x9E3779B97F4A7C15L * (k + 1));
        }
        return new Rng(s);
    }

    /** @return the complete state (for checkpoints) */
    public long state() {
        return state;
    }

    /** Restores a state returned by {@link #state()}. */
    public void setState(long s) {
        state = s;
    }

    /** @return the next 64 random bits */
    public long nextLong() {
        state += 0x9E3779B97F4A7C15L;
        return mix(state);
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** @return uniform in [0, 1) with 53 random bits */
    public double nextDouble() {
        return (nextLong() >>> 11) * 0x1.0p-53;
    }

    /** @return uniform in [0, 1) as a float */
    public float nextFloat() {
        return (nextLong() >>> 40) * 0x1.0p-24f;
    }

    /** @return uniform integer in [0, bound) (unbiased) */
    public int nextInt(int bound) {
        if (bound <= 0) {
            throw new IllegalArgumentException("bound must be positive");
        }
        long r = nextLong() >>> 33;
        long m = r * bound;
        long l = m & 0x7fffffffL;
        if (l < bound) {
            long t = (0x80000000L - bound) % bound;
            while (l < t) {
                r = nextLong() >>> 33;
                m = r * bound;
                l = m & 0x7fffffffL;
            }
        }
        return (int) (m >>> 31);
    }

    /** @return standard normal (Box–Muller, one value per two uniforms) */
    public double nextGaussian() {
        double u1 = nextDouble();
        double u2 = nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    }

    /** @return a seeded permutation of [0, n) (Fisher–Yates) */
    public int[] permutation(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
