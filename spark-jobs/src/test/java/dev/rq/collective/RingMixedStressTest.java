package dev.rq.collective;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Two ranks (the local-master training layout: both in one JVM) run a long sequence of mixed
 * operations of random sizes, as a training step does (float and double all-reduces, all-gathers
 * of different lengths per rank, broadcasts); every result must be bitwise the documented reference.
 * {@code -Drq.ring.stress.ops=N} runs more operations.
 */
class RingMixedStressTest {

    @Test
    void longMixedSequencesMatchTheReferenceBitwise() {
        int n = 2;
        int ops = Integer.getInteger("rq.ring.stress.ops", 150);
        long seed = 42;
        List<Integer> mismatches = RingHarness.runOk(n, RingHarness.defaults(n, Duration.ofSeconds(60)), c -> {
            SplittableRandom plan = new SplittableRandom(seed); // same plan on every rank
            int bad = 0;
            for (int op = 0; op < ops; op++) {
                int kind = plan.nextInt(4);
                int length = plan.nextInt(1, plan.nextBoolean() ? 64 : 400_000);
                long salt = plan.nextLong();
                switch (kind) {
                    case 0 -> {
                        float[][] all = new float[n][];
                        for (int r = 0; r < n; r++) {
                            all[r] = TcpRingCollectiveTest.floats(r, length, salt);
                        }
                        float[] mine = all[c.rank()].clone();
                        c.allReduceSum(mine);
                        if (!Arrays.equals(mine, TcpRingCollectiveTest.referenceSum(all))) {
                            bad++;
                        }
                    }
                    case 1 -> {
                        double[][] all = new double[n][];
                        for (int r = 0; r < n; r++) {
                            all[r] = TcpRingCollectiveTest.doubles(r + (int) (salt & 7), length);
                        }
                        double[] mine = all[c.rank()].clone();
                        c.allReduceSum(mine);
                        double[] want = TcpRingCollectiveTest.referenceSum(all);
                        if (!Arrays.equals(mine, want)) {
                            bad++;
                        }
                    }
                    case 2 -> {
                        byte[] block = new byte[(int) ((salt >>> 3) % 5000) + c.rank() * 17];
                        new SplittableRandom(salt + c.rank()).nextBytes(block);
                        List<byte[]> got = c.allGather(block);
                        for (int r = 0; r < n; r++) {
                            byte[] want = new byte[(int) ((salt >>> 3) % 5000) + r * 17];
                            new SplittableRandom(salt + r).nextBytes(want);
                            if (!Arrays.equals(got.get(r), want)) {
                                bad++;
                            }
                        }
                    }
                    default -> {
                        int root = (int) Math.floorMod(salt, (long) n);
                        float[] want = TcpRingCollectiveTest.floats(root, length, salt);
                        float[] mine = c.rank() == root ? want.clone() : new float[length];
                        c.broadcast(mine, root);
                        if (!Arrays.equals(mine, want)) {
                            bad++;
                        }
                    }
                }
            }
            return bad;
        });
        assertThat(mismatches).containsOnly(0);
    }
}
