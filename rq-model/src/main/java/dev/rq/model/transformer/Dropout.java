package dev.rq.model.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.nn.Tensors;
import dev.rq.model.util.Rng;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * Dropout whose masks come from seeded {@link Rng} streams, one stream per sample, so a training
 * step is reproducible and a sample's masks do not depend on how the global batch is split over
 * ranks and micro-batches (libtorch's generator is never used).
 *
 * <p>Every tensor passed to {@link #apply} must have the batch samples as its leading,
 * outermost blocks: element block {@code s} of {@code numel/samples} consecutive elements belongs
 * to sample {@code s} (true for [B, L, D], [B·T, Dd, D] and [B, heads, L, L] layouts). Each sample's
 * stream is consumed in the fixed order of the forward pass.
 */
public final class Dropout {

    /**
     * Per thread, the direct buffer the masks are drawn into (grown as needed, reused: no Java array,
     * no fresh direct buffer and no page faults per call; libtorch copies the mask out of it).
     */
    private static final ThreadLocal<ByteBuffer> MASK_BUFFER = new ThreadLocal<>();

    private final Rng[] samples;

    /** @param samples one generator per sample of the batch, in batch order */
    public Dropout(Rng[] samples) {
        this.samples = samples.clone();
    }

    /** @return dropout for {@code n} samples with streams keyed by (seed, keys…, first + i) */
    public static Dropout forSamples(long seed, long first, int n, long... keys) {
        Rng[] r = new Rng[n];
        long[] k = java.util.Arrays.copyOf(keys, keys.length + 1);
        for (int i = 0; i < n; i++) {
            k[keys.length] = first + i;
            r[i] = Rng.of(seed, k);
        }
        return new Dropout(r);
    }

    /** @return the number of samples */
    public int samples() {
        return samples.length;
    }

    /**
     * Inverted dropout: zeroes each element with probability {@code p} (quantised to 1/65536) and
     * scales the rest by 1/(1−p). Safe inside autograd: the mask is a libtorch-owned constant.
     */
    public NDArray apply(NDArray x, double p) {
        if (p <= 0) {
            return x;
        }
        try (NDArray m = mask(x.getManager(), x.getShape(), p)) {
            return x.mul(m);
        }
    }

    /**
     * The mask {@link #apply} multiplies a tensor of shape {@code s} by (drawing it consumes the
     * same stream values): 0 with probability {@code p}, else 1/(1−p), float32, libtorch-owned.
     *
     * @param p &gt; 0
     */
    NDArray mask(NDManager manager, Shape s, double p) {
        int n = Math.toIntExact(s.size());
        if (n % samples.length != 0) {
            throw new IllegalArgumentException("tensor " + s + " does not split into " + samples.length + " samples");
        }
        int per = n / samples.length;
        float keep = (float) (1.0 / (1.0 - p));
        // 16-bit uniforms, four per 64-bit draw: an element is dropped when u16 < round(p·65536)
        int threshold = (int) Math.round(p * 65536);
        ByteBuffer bytes = maskBuffer(n);
        FloatBuffer mask = bytes.asFloatBuffer();
        for (int b = 0; b < samples.length; b++) {
            Rng r = samples[b];
            int off = b * per;
            int end = off + per;
            int i = off;
            while (i < end) {
                long bits = r.nextLong();
                for (int j = 0; j < 4 && i < end; j++, i++) {
                    mask.put(i, (int) (bits & 0xFFFF) < threshold ? 0f : keep);
                    bits >>>= 16;
                }
            }
        }
        // copied into libtorch-owned memory: the buffer is reused, autograd keeps the mask for backward
        return Tensors.own(manager.create(bytes, s, DataType.FLOAT32));
    }

    /** @return this thread's mask buffer holding {@code n} floats, position 0, limit {@code 4n} */
    private static ByteBuffer maskBuffer(int n) {
        ByteBuffer b = MASK_BUFFER.get();
        if (b == null || b.capacity() < 4L * n) {
            b = ByteBuffer.allocateDirect(Math.multiplyExact(4, n)).order(ByteOrder.nativeOrder());
            MASK_BUFFER.set(b);
        }
        b.clear().limit(4 * n);
        return b;
    }
}
