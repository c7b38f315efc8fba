package dev.rq.model.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.kernels.Kernels;
import dev.rq.model.nn.Tensors;

/**
 * 2-D axial rotary position encoding of the spatial stack ({@code model.pos_rope2d}; not in the
 * official model): queries and keys of every body block are rotated ({@link Kernels#rope}) by the
 * grid position of the code each token embeds, so a score {@code q_i·k_j} depends on the two positions
 * only through their row and column offsets. Of a head's E/2 rotation pairs (channel j with j + E/2)
 * the first E/4 turn with the row, the last E/4 with the column, at frequencies
 * ω_i = {@value #BASE}^(−i/(E/4)) (RoFormer's base^(−2i/d) per axis, as 2-D RoPE in LlamaGen /
 * ViT-RoPE). Condition tokens (the class / start token) are not rotated (angle 0). No weights.
 *
 * <p>Body sequence position p (the KV cache's position): p &lt; Lc a condition token, else code
 * t = p − Lc at row t / W, column t mod W.
 */
final class Rope2d implements AutoCloseable {

    /** RoFormer's frequency base. */
    static final double BASE = 10000.0;

    private final NDArray cos; // [P, E] float32
    private final NDArray sin;

    /**
     * @param lc condition tokens
     * @param h grid rows
     * @param w grid columns
     * @param e head dimension (divisible by 4)
     */
    Rope2d(NDManager m, int lc, int h, int w, int e) {
        float[][] t = tables(lc, h, w, e);
        Shape s = new Shape(lc + (long) h * w, e);
        this.cos = Tensors.of(m, t[0], s);
        this.sin = Tensors.of(m, t[1], s);
    }

    /**
     * @return {cos, sin}, each [(Lc + H·W) · E] row-major: row p, columns j and j + E/2 hold the angle
     *     θ_pj = row(p)·ω_j for j &lt; E/4, col(p)·ω_{j−E/4} for E/4 ≤ j &lt; E/2 (0 for p &lt; Lc)
     */
    static float[][] tables(int lc, int h, int w, int e) {
        if (e % 4 != 0) {
            throw new IllegalArgumentException("2-D rotary encoding needs a head dimension divisible by 4, got " + e);
        }
        int q = e / 4;
        int half = e / 2;
        int rows = lc + h * w;
        float[] c = new float[rows * e];
        float[] s = new float[rows * e];
        for (int p = 0; p < rows; p++) {
            int t = p - lc;
            int r = t < 0 ? 0 : t / w;
            int col = t < 0 ? 0 : t % w;
            for (int j = 0; j < half; j++) {
                double omega = Math.pow(BASE, -(double) (j % q) / q);
                double theta = (j < q ? r : col) * omega;
                float cv = (float) Math.cos(theta);
                float sv = (float) Math.sin(theta);
                c[p * e + j] = cv;
                c[p * e + j + half] = cv;
                s[p * e + j] = sv;
                s[p * e + j + half] = sv;
            }
        }
        return new float[][] {c, s};
    }

    /** @return the whole tables {cos, sin} [P, E] (owned here) */
    NDList all() {
        return new NDList(cos, sin);
    }

    /** @return {cos, sin} rows {@code first .. first+len−1}, [len, E] */
    NDList rows(long first, long len) {
        if (first == 0 && len == cos.getShape().get(0)) {
            return all();
        }
        NDIndex i = new NDIndex().addSliceDim(first, first + len);
        return new NDList(cos.get(i), sin.get(i));
    }

    @Override
    public void close() {
        cos.close();
        sin.close();
    }
}
