package dev.rq.model.safetensors;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A tensor held on the Java heap as little-endian bytes, as stored in a safetensors file.
 *
 * @param dtype the safetensors dtype
 * @param shape the dimensions (empty for a scalar)
 * @param data little-endian element bytes, {@code numel * dtype.bytes} long
 */
public record HostTensor(Dtype dtype, long[] shape, byte[] data) implements TensorData {

    /** The safetensors element types this project reads and writes. */
    public enum Dtype {
        F32(4, DataType.FLOAT32),
        F64(8, DataType.FLOAT64),
        F16(2, DataType.FLOAT16),
        /** bfloat16: the high 16 bits of a float32 (compact storage of bf16-representable weights). */
        BF16(2, DataType.BFLOAT16),
        I64(8, DataType.INT64),
        I32(4, DataType.INT32),
        I16(2, DataType.INT16),
        U8(1, DataType.UINT8);

        /** Bytes per element. */
        public final int bytes;

        /** The matching DJL type. */
        public final DataType djl;

        Dtype(int bytes, DataType djl) {
            this.bytes = bytes;
            this.djl = djl;
        }

        /** @return the safetensors dtype for a DJL type */
        public static Dtype of(DataType t) {
            for (Dtype d : values()) {
                if (d.djl == t) {
                    return d;
                }
            }
            throw new IllegalArgumentException("unsupported tensor type for safetensors: " + t);
        }
    }

    public HostTensor {
        long n = numel(shape);
        if (n * dtype.bytes != data.length) {
            throw new IllegalArgumentException(
                    "tensor of shape "
                            + Arrays.toString(shape)
                            + " and dtype "
                            + dtype
                            + " needs "
                            + n * dtype.bytes
                            + " bytes, got "
                            + data.length);
        }
    }

    @Override
    public void writeTo(java.io.OutputStream out) throws java.io.IOException {
        out.write(data);
    }

    /** @return the number of elements */
    public long numel() {
        return numel(shape);
    }

    static long numel(long[] shape) {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        return n;
    }

    /** Copies an NDArray to the host. */
    public static HostTensor of(NDArray array) {
        ByteBuffer bb = array.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        byte[] bytes = new byte[bb.remaining()];
        bb.get(bytes);
        return new HostTensor(Dtype.of(array.getDataType()), array.getShape().getShape(), bytes);
    }

    /** @return a float32 host tensor holding {@code values} */
    public static HostTensor ofFloats(float[] values, long... shape) {
        ByteBuffer bb = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        bb.asFloatBuffer().put(values);
        return new HostTensor(Dtype.F32, shape, bb.array());
    }

    /** @return an int64 host tensor holding {@code values} */
    public static HostTensor ofLongs(long[] values, long... shape) {
        ByteBuffer bb = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        bb.asLongBuffer().put(values);
        return new HostTensor(Dtype.I64, shape, bb.array());
    }

    /** Creates an NDArray with this tensor's values, owned by {@code manager}. */
    public NDArray toNDArray(NDManager manager) {
        ByteBuffer direct = ByteBuffer.allocateDirect(data.length).order(ByteOrder.nativeOrder());
        if (ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
            direct.put(data);
        } else {
            throw new UnsupportedOperationException("big-endian hosts are not supported");
        }
        direct.rewind();
        // copy into libtorch-owned memory: never alias a Java buffer (see nn.Tensors)
        return dev.rq.model.nn.Tensors.own(manager.create(direct, new Shape(shape), dtype.djl));
    }

    /** @return the values as floats (F32, F64, F16 or BF16 tensors) */
    public float[] toFloats() {
        ByteBuffer bb = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[Math.toIntExact(numel())];
        switch (dtype) {
            case F32 -> bb.asFloatBuffer().get(out);
            case F64 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = (float) bb.getDouble();
                }
            }
            case F16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = Float.float16ToFloatCompat(bb.getShort());
                }
            }
            case BF16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = java.lang.Float.intBitsToFloat((bb.getShort() & 0xffff) << 16);
                }
            }
            default -> throw new IllegalStateException("not a float tensor: " + dtype);
        }
        return out;
    }

    /** @return this tensor as F32 (the same object when it already is; BF16 and F16 upcast exactly) */
    public HostTensor toF32() {
        return dtype == Dtype.F32 ? this : ofFloats(toFloats(), shape);
    }

    /** @return the values as longs (integer tensors) */
    public long[] toLongs() {
        ByteBuffer bb = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        long[] out = new long[Math.toIntExact(numel())];
        for (int i = 0; i < out.length; i++) {
            out[i] =
                    switch (dtype) {
                        case I64 -> bb.getLong();
                        case I32 -> bb.getInt();
                        case I16 -> bb.getShort();
                        case U8 -> bb.get() & 0xff;
                        default -> throw new IllegalStateException("not an integer tensor: " + dtype);
                    };
        }
        return out;
    }

    /** Half-precision conversion helpers (Float.float16ToFloat needs Java 20). */
    static final class Float {
        private Float() {}

        static float float16ToFloatCompat(short h) {
            int bits = h & 0xffff;
            int sign = (bits >>> 15) << 31;
            int exp = (bits >>> 10) & 0x1f;
            int mant = bits & 0x3ff;
            if (exp == 0) {
                if (mant == 0) {
                    return java.lang.Float.intBitsToFloat(sign);
                }
                float v = mant / 1024f * (float) Math.pow(2, -14);
                return sign == 0 ? v : -v;
            }
            if (exp == 31) {
                return java.lang.Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
            }
            return java.lang.Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
        }
    }
}
