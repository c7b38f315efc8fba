package dev.rq.model.safetensors;

import ai.djl.ndarray.NDArray;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A tensor whose little-endian element bytes are produced on demand, one tensor at a time: what
 * streaming writes ({@link SafeTensors#write}) and hashes consume, so that saving or hashing a
 * model never holds a second copy of all its weights. {@link HostTensor} is one (bytes already on
 * the heap); {@link #of(NDArray)} is a view of an engine tensor that is copied out only while it
 * is written.
 */
public interface TensorData {

    /** @return the element type */
    HostTensor.Dtype dtype();

    /** @return the dimensions (empty for a scalar) */
    long[] shape();

    /** @return the number of data bytes, {@code numel · dtype.bytes} */
    default long byteSize() {
        return HostTensor.numel(shape()) * dtype().bytes;
    }

    /** Writes exactly {@link #byteSize()} little-endian element bytes to {@code out}. */
    void writeTo(OutputStream out) throws IOException;

    /**
     * A view of an engine tensor (any device): its bytes are copied to the host in {@link
     * #writeTo} only, one tensor at a time. The tensor must stay open until written.
     */
    static TensorData of(NDArray array) {
        HostTensor.Dtype dtype = HostTensor.Dtype.of(array.getDataType());
        long[] shape = array.getShape().getShape();
        return new TensorData() {
            @Override
            public HostTensor.Dtype dtype() {
                return dtype;
            }

            @Override
            public long[] shape() {
                return shape.clone();
            }

            @Override
            public void writeTo(OutputStream out) throws IOException {
                if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
                    throw new UnsupportedOperationException("big-endian hosts are not supported");
                }
                writeBuffer(array.toByteBuffer(), out);
            }
        };
    }

    /** Copies the remaining bytes of {@code b} to {@code out} through a bounded heap buffer. */
    static void writeBuffer(ByteBuffer b, OutputStream out) throws IOException {
        if (b.hasArray()) {
            out.write(b.array(), b.arrayOffset() + b.position(), b.remaining());
            b.position(b.limit());
            return;
        }
        byte[] chunk = new byte[(int) Math.min(b.remaining(), 1 << 20)];
        while (b.hasRemaining()) {
            int n = Math.min(chunk.length, b.remaining());
            b.get(chunk, 0, n);
            out.write(chunk, 0, n);
        }
    }
}
