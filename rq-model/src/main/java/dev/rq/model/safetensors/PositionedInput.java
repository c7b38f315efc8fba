package dev.rq.model.safetensors;

import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;

/**
 * A file read at positions: a Hadoop {@code FSDataInputStream}'s {@code readFully(position, …)} (which
 * s3a turns into ranged GETs and HDFS into block reads), a local {@code FileChannel}, or a stream read
 * forward ({@link #forward}). {@link SafeTensors#readRanged} reads only the byte ranges a reader wants.
 */
public interface PositionedInput extends Closeable {

    /** Reads exactly {@code len} bytes starting at byte {@code position} of the file into {@code b[off..]}. */
    void readFully(long position, byte[] b, int off, int len) throws IOException;

    /** Opens a stream at the start of the file. */
    interface Opener {
        InputStream open() throws IOException;
    }

    /**
     * Positioned reads over a stream, for file systems without them: reads going forward skip
     * ({@link InputStream#skip}, a seek where the stream supports it); a read before the stream's
     * position reopens it.
     */
    static PositionedInput forward(Opener opener) {
        return new PositionedInput() {
            private InputStream in;
            private long at;

            @Override
            public void readFully(long position, byte[] b, int off, int len) throws IOException {
                if (in == null || position < at) {
                    close();
                    in = opener.open();
                    at = 0;
                }
                if (position > at) {
                    in.skipNBytes(position - at);
                    at = position;
                }
                int n = in.readNBytes(b, off, len);
                at += n;
                if (n < len) {
                    throw new EOFException("file ends at byte " + at + ", before " + (position + len));
                }
            }

            @Override
            public void close() throws IOException {
                if (in != null) {
                    in.close();
                    in = null;
                }
            }
        };
    }

    /** @return positioned reads of {@code bytes} (tests, files in memory) */
    static PositionedInput of(byte[] bytes) {
        return new PositionedInput() {
            @Override
            public void readFully(long position, byte[] b, int off, int len) throws IOException {
                if (position < 0 || position + len > bytes.length) {
                    throw new EOFException("file of " + bytes.length + " bytes ends before " + (position + len));
                }
                System.arraycopy(bytes, (int) position, b, off, len);
            }

            @Override
            public void close() {}
        };
    }
}
