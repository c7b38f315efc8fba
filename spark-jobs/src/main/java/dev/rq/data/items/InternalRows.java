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
