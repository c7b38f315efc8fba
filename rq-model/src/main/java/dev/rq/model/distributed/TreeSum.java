package dev.rq.model.distributed;

import ai.djl.ndarray.NDArray;
import java.util.List;

/**
 * Sums in a fixed pairwise tree: {@code sum[lo, hi) = sum[lo, mid) + sum[mid, hi)} with {@code mid
 * = (lo + hi) / 2}. When ranks hold contiguous equal shares of the terms, a rank's share is a
 * subtree for N = 1 and 2 (and for powers of two dividing the count), so summing the shares
 * locally and then over ranks gives the same bits as one rank summing everything.
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
}
