package dev.rq.data.items;

import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.util.ArrayData;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;

/**
 * Reading item-table values from Spark's internal rows: embeddings leave the row as one array
 * copy ({@code toFloatArray}) instead of {@code dim} boxed values, which is what makes the
 * semantic-ID jobs read at memory speed. Callers only see rows the {@link
 * ItemInput} checks accepted.
 */
public final class InternalRows {

    private InternalRows() {}

    /**
     * @param a an {@code array<float>} or {@code array<double>} of length dim
     * @param doubles whether its elements are doubles
     * @return the embedding as floats
     */
    public static float[] floats(ArrayData a, int dim, boolean doubles) {
        if (a.numElements() != dim) {
            throw new IllegalStateException("embedding of length " + a.numElements() + " reached the model; expected "
                    + dim + " (rows are checked before)");
        }
        if (!doubles) {
            return a.toFloatArray();
        }
        double[] d = a.toDoubleArray();
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }

    /**
     * Copies an embedding into {@code out[off, off + dim)}.
     *
     * @param doubles whether the array's elements are doubles
     */
    public static void copy(ArrayData a, int dim, boolean doubles, float[] out, int off) {
        if (a.numElements() != dim) {
            throw new IllegalStateException("embedding of length " + a.numElements() + " reached the model; expected "
                    + dim + " (rows are checked before)");
        }
        if (!doubles && a instanceof org.apache.spark.sql.catalyst.expressions.UnsafeArrayData u) {
            org.apache.spark.unsafe.Platform.copyMemory(u.getBaseObject(), u.getBaseOffset() + headerBytes(dim), out,
                    org.apache.spark.unsafe.Platform.FLOAT_ARRAY_OFFSET + 4L * off, 4L * dim);
            return;
        }
        for (int i = 0; i < dim; i++) {
            out[off + i] = doubles ? (float) a.getDouble(i) : a.getFloat(i);
        }
    }

    /**
     * Copies an embedding of length {@code dim} into {@code out[off, off + dim)} and checks its
     * elements as {@link ItemInput#checked(boolean) ItemInput's} SQL checks do, in one pass.
     *
     * @return null for a valid embedding, else {@link ItemInput#NULL_ELEMENT} (a null element, checked
     *     first) or {@link ItemInput#NON_FINITE} (NaN, ±Inf or a double beyond the float32 range);
     *     {@code out} then holds garbage
     */
    public static String copyChecked(ArrayData a, int dim, boolean doubles, float[] out, int off) {
        if (a.numElements() != dim) {
            throw new IllegalStateException("embedding of length " + a.numElements() + " reached the model; expected "
                    + dim + " (rows are checked before)");
        }
        if (hasNull(a, dim)) {
            return ItemInput.NULL_ELEMENT;
        }
        if (doubles) {
            boolean finite = true;
            for (int i = 0; i < dim; i++) {
                double v = a.getDouble(i);
                finite &= Math.abs(v) <= Float.MAX_VALUE; // false for NaN
                out[off + i] = (float) v;
            }
            return finite ? null : ItemInput.NON_FINITE;
        }
        copy(a, dim, false, out, off);
        boolean finite = true;
        for (int i = off, end = off + dim; i < end; i++) {
            finite &= Math.abs(out[i]) <= Float.MAX_VALUE; // false for NaN
        }
        return finite ? null : ItemInput.NON_FINITE;
    }

    /** @return whether an element of {@code a} is null (an UnsafeArrayData's null bits, a word at a time) */
    private static boolean hasNull(ArrayData a, int dim) {
        if (a instanceof org.apache.spark.sql.catalyst.expressions.UnsafeArrayData u) {
            long words = (headerBytes(dim) - 8) / 8;
            for (long w = 0; w < words; w++) {
                if (org.apache.spark.unsafe.Platform.getLong(u.getBaseObject(), u.getBaseOffset() + 8 + 8 * w) != 0) {
                    return true;
                }
            }
            return false;
        }
        for (int i = 0; i < dim; i++) {
            if (a.isNullAt(i)) {
                return true;
            }
        }
        return false;
    }

    /** @return the header size of an UnsafeArrayData of n elements (count + null bits, 8-byte words) */
    private static long headerBytes(int n) {
        return org.apache.spark.sql.catalyst.expressions.UnsafeArrayData.calculateHeaderPortionInBytes(n);
    }

    /** @return the value of an integer or string column as a Java object */
    public static Object value(InternalRow r, int i, DataType t) {
        if (t == DataTypes.LongType) {
            return r.getLong(i);
        } else if (t == DataTypes.IntegerType) {
            return r.getInt(i);
        } else if (t == DataTypes.ShortType) {
            return r.getShort(i);
        } else if (t == DataTypes.ByteType) {
            return r.getByte(i);
        } else if (t == DataTypes.StringType) {
            return r.getUTF8String(i).toString();
        }
        throw new IllegalArgumentException("unsupported id/label type " + t.simpleString());
    }
}
