package dev.rq.collective;

import java.util.ArrayList;
import java.util.List;

/**
 * The pairwise midpoint tree over the ranks ({@code dev.rq.model.distributed.TreeSum}'s tree over N
 * terms, term r = rank r's contribution) as a segment meets it on its way round the ring: a segment
 * that starts at rank {@code start} and has visited {@code count} ranks ({@code start, start+1, ...}
 * mod N) carries the sums of the <i>largest tree nodes all of whose ranks it has visited</i>, in
 * tree order (ascending first rank). The next rank adds its own term as a leaf and completes every
 * node that now has both halves ({@code left + right}, as {@code TreeSum}); after N visits the one
 * node left is the root, the tree sum. A contiguous run of visited ranks is covered by at most about
 * 2 log2(N) nodes (a suffix and a prefix of [0, N)), the most a message carries.
 */
final class RingTree {

    private RingTree() {}

    /**
     * @return the nodes {@code [lo, hi)} a segment carries after visiting {@code count} ranks from
     *     {@code start} (1 &le; count &le; N), ascending
     */
    static List<int[]> carried(int n, int start, int count) {
        List<int[]> out = new ArrayList<>();
        collect(n, start, count, 0, n, out);
        return out;
    }

    private static void collect(int n, int start, int count, int lo, int hi, List<int[]> out) {
        boolean all = true;
        for (int x = lo; x < hi && all; x++) {
            all = Math.floorMod(x - start, n) < count;
        }
        if (all) {
            out.add(new int[] {lo, hi});
        } else if (hi - lo > 1) {
            int mid = (lo + hi) >>> 1;
            collect(n, start, count, lo, mid, out);
            collect(n, start, count, mid, hi, out);
        }
    }

    /** @return the position of node {@code [lo, hi)} in {@code nodes}, or -1 */
    static int indexOf(List<int[]> nodes, int lo, int hi) {
        for (int i = 0; i < nodes.size(); i++) {
            if (nodes.get(i)[0] == lo && nodes.get(i)[1] == hi) {
                return i;
            }
        }
        return -1;
    }

    /**
     * Segment arrays the ring's reduce-scatter moves per rank in the tree order, relative to the
     * ring order's N - 1: every step lasts as long as its largest message, so the sum over the N - 1
     * steps of the most nodes any segment carries in that step (segment s starts at rank s + 1).
     *
     * @return reduce-scatter cost of the tree order / that of the ring order (1 for N &le; 2)
     */
    static double reduceScatterFactor(int n) {
        if (n <= 2) {
            return 1;
        }
        long units = 0;
        for (int k = 0; k < n - 1; k++) {
            int most = 0;
            for (int s = 0; s < n; s++) {
                most = Math.max(most, carried(n, (s + 1) % n, k + 1).size());
            }
            units += most;
        }
        return (double) units / (n - 1);
    }
}
