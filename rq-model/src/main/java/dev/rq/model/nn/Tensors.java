package dev.rq.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Host-to-tensor copies that always land in memory allocated by libtorch.
 *
 * <p>DJL's {@code NDManager.create(float[])} wraps a Java direct buffer without copying, so the
 * tensor's address (and alignment) depends on the Java heap's history. libtorch's BLAS kernels
 * pick code paths by alignment, which changes float rounding: the same computation on data at a
 * different address can differ in the last bits, and training amplifies that. Copying into
 * libtorch's own 64-byte-aligned allocation makes results independent of where Java put the data,
 * which bit-identical resume and N-equivalence rely on.
 */
public final class Tensors {

    private Tensors() {}

    /** @return a libtorch-owned float32 tensor with {@code values} and {@code shape} */
    public static NDArray of(NDManager m, float[] values, Shape shape) {
        try (NDArray wrapped = m.create(values, shape)) {
            return wrapped.duplicate();
        }
    }

    /** @return a libtorch-owned 1-D float32 tensor */
    public static NDArray of(NDManager m, float[] values) {
        return of(m, values, new Shape(values.length));
    }

    /** @return a libtorch-owned 1-D int64 tensor */
    public static NDArray of(NDManager m, long[] values) {
        try (NDArray wrapped = m.create(values)) {
            return wrapped.duplicate();
        }
    }

    /** @return a libtorch-owned copy of an array that may wrap Java memory (closes {@code wrapped}) */
    public static NDArray own(NDArray wrapped) {
        try (wrapped) {
            return wrapped.duplicate();
        }
    }
}
