package dev.rq.model.distributed;

import ai.djl.ndarray.NDArray;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BinaryOperator;

/**
 * Sums in a fixed pairwise tree: {@code sum[lo, hi) = sum[lo, mid) + sum[mid, hi)} with {@code mid
 * = (lo + hi) / 2}. When ranks hold contiguous equal shares of the terms, a rank's share is a
 * subtree for N = 1 and 2 (and for powers of two dividing the count), so summing the shares
 * locally and then over ranks gives the same bits as one rank summing everything.
 *
 * <p>{@link Incremental} evaluates the same tree while the terms arrive in order (a post-order
 * evaluation with a stack of finished subtrees): the same additions of the same operands, so the
 * same bits, holding at most about log2(count) + 1 partial sums instead of all terms.
 */
public final class TreeSum {

    private TreeSum() {}

    /** @return the tree sum of same-shaped arrays (the single element itself for one) */
    public static NDArray of(List<NDArray> xs) {
        return sum(xs, 0, xs.size());
    }

    private static NDArray sum(List<NDArray> xs, int lo, int hi) {
        if (hi - lo == 1) {
            return xs.get(lo);
        }
        int mid = (lo + hi) >>> 1;
        return sum(xs, lo, mid).add(sum(xs, mid, hi));
    }

    /** @return the element-wise tree sum of same-length arrays (a new array) */
    public static float[] ofFloats(List<float[]> xs) {
        return sumFloats(xs, 0, xs.size()).clone();
    }

    private static float[] sumFloats(List<float[]> xs, int lo, int hi) {
        if (hi - lo == 1) {
            return xs.get(lo);
        }
        int mid = (lo + hi) >>> 1;
        float[] a = sumFloats(xs, lo, mid);
        float[] b = sumFloats(xs, mid, hi);
        float[] out = new float[a.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = a[i] + b[i];
        }
        return out;
    }

    /**
     * The tree sum of {@code count} terms fed one at a time: every node {@code [lo, hi)} of the tree
     * is computed as soon as both its halves are, by {@code add(left, right)}. Terms may arrive out of
     * order; they wait until the terms before them are there.
     *
     * @param <T> a term or partial sum
     */
    public static final class Incremental<T> {
        private final int count;
        private final BinaryOperator<T> add;
        private final Set<Long> nodes = new HashSet<>();
        private final List<int[]> ranges = new ArrayList<>(); // the stack: finished subtrees [lo, hi)
        private final List<T> sums = new ArrayList<>();
        private final Map<Integer, T> early = new HashMap<>();
        private int next;
        private int held;

        /**
         * @param count number of terms (at least 1)
         * @param add the sum of a left and a right partial sum; it may reuse the left one's storage
         */
        public Incremental(int count, BinaryOperator<T> add) {
            if (count < 1) {
                throw new IllegalArgumentException("a tree of " + count + " terms");
            }
            this.count = count;
            this.add = add;
            collect(0, count);
        }

        private void collect(int lo, int hi) {
            nodes.add(key(lo, hi));
            if (hi - lo > 1) {
                int mid = (lo + hi) >>> 1;
                collect(lo, mid);
                collect(mid, hi);
            }
        }

        private long key(int lo, int hi) {
            return (long) lo * (count + 1) + hi;
        }

        /** Adds term {@code index} (each index in [0, count) exactly once). */
        public void add(int index, T term) {
            if (index < next || index >= count || early.containsKey(index)) {
                throw new IllegalArgumentException("term " + index + " of " + count + " given twice or out of range");
            }
            early.put(index, term);
            while (early.containsKey(next)) {
                ranges.add(new int[] {next, next + 1});
                sums.add(early.remove(next));
                next++;
                int n = ranges.size();
                while (n >= 2 && nodes.contains(key(ranges.get(n - 2)[0], ranges.get(n - 1)[1]))) {
                    // the two finished subtrees on top are the halves of one node: its sum, now
                    int lo = ranges.get(n - 2)[0];
                    int hi = ranges.get(n - 1)[1];
                    T right = sums.remove(n - 1);
                    T left = sums.remove(n - 2);
                    ranges.remove(n - 1);
                    ranges.remove(n - 2);
                    ranges.add(new int[] {lo, hi});
                    sums.add(add.apply(left, right));
                    n--;
                }
            }
            held = Math.max(held, sums.size() + early.size());
        }

        /** @return the sum of all terms (all must have been added) */
        public T result() {
            if (next != count || sums.size() != 1) {
                throw new IllegalStateException(next + " of " + count + " terms added");
            }
            return sums.get(0);
        }

        /** @return the terms and partial sums held now */
        public int holding() {
            return sums.size() + early.size();
        }

        /** @return the most terms and partial sums held at once so far */
        public int held() {
            return held;
        }
    }
}
