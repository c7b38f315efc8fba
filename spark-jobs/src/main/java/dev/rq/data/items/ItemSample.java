package dev.rq.data.items;

import dev.rq.model.util.Rng;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

/**
 * The deterministic k-means sample of a prepared item table: {@code s} distinct rows drawn
 * uniformly without replacement (Floyd's algorithm, seeded), in ascending order, so that reading
 * them is one pass over the row groups; all rows when {@code s ≥ n}. Rank r of N takes the
 * contiguous slice {@code [⌊r·s/N⌋, ⌊(r+1)·s/N⌋)}: the slices concatenated in rank order are the
 * whole sample, whatever N.
 */
public final class ItemSample {

    private ItemSample() {}

    /** @return {@code min(s, n)} distinct row indices in [0, n), ascending */
    public static long[] indices(long n, int s, long seed) {
        if (s >= n) {
            long[] all = new long[(int) n];
            for (int i = 0; i < all.length; i++) {
                all[i] = i;
            }
            return all;
        }
        Rng rng = Rng.of(seed, 0x5a3b1e);
        Set<Long> chosen = new HashSet<>(2 * s);
        for (long j = n - s; j < n; j++) {
            long t = (long) (rng.nextDouble() * (j + 1)); // uniform in [0, j]
            chosen.add(chosen.contains(t) ? j : t);
        }
        long[] out = chosen.stream().mapToLong(Long::longValue).toArray();
        Arrays.sort(out);
        return out;
    }

    /** @return rank r's contiguous share of {@code sample} */
    public static long[] slice(long[] sample, int rank, int worldSize) {
        int from = (int) ((long) rank * sample.length / worldSize);
        int to = (int) ((long) (rank + 1) * sample.length / worldSize);
        return Arrays.copyOfRange(sample, from, to);
    }
}
