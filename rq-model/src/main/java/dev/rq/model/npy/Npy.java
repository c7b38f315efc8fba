package dev.rq.model.npy;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * numpy's {@code .npy} array format (format versions 1.0–3.0): the magic {@code \x93NUMPY}, the
 * version, a little-endian header length (2 bytes in 1.0, 4 in 2.0 and 3.0), a Python-literal
 * header {@code {'descr': '<f8', 'fortran_order': False, 'shape': (2048, 2048), }} padded with
 * spaces and a newline, then the raw elements. Reading accepts float32/float64 and integer
 * element types in either byte order and C or Fortran order, and returns float64 values in C
 * (row-major) order; writing produces version 1.0, {@code <f8}, C order, the header padded to a
 * multiple of 64 bytes, exactly as {@code np.save} does for a float64 array. Nothing is executed
 * (no pickled object arrays).
 */
public final class Npy {

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([<>|=])([fiu])(\\d+)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");
    private static final long MAX_ELEMENTS = Integer.MAX_VALUE - 8;

    private Npy() {}

    /**
     * An array as float64 values in C order.
     *
     * @param shape dimensions (empty for a scalar)
     * @param data {@code Π shape} values
     */
    public record Array(long[] shape, double[] data) {
        public Array {
            long n = 1;
            for (long s : shape) {
                n *= s;
            }
            if (n != data.length) {
                throw new IllegalArgumentException("array of shape " + Arrays.toString(shape) + " with "
                        + data.length + " values");
            }
        }

        /** @return the values of a 1-D array */
        public double[] vector() {
            if (shape.length != 1) {
                throw new IllegalArgumentException("expected a vector, got shape " + Arrays.toString(shape));
            }
            return data;
        }

        /** @return the rows of a 2-D array */
        public double[][] matrix() {
            if (shape.length != 2) {
                throw new IllegalArgumentException("expected a matrix, got shape " + Arrays.toString(shape));
            }
            int r = Math.toIntExact(shape[0]);
            int c = Math.toIntExact(shape[1]);
            double[][] m = new double[r][c];
            for (int i = 0; i < r; i++) {
                System.arraycopy(data, i * c, m[i], 0, c);
            }
            return m;
        }

        /** @return a vector */
        public static Array of(double[] v) {
            return new Array(new long[] {v.length}, v.clone());
        }

        /** @return a matrix from its rows */
        public static Array of(double[][] m) {
            int r = m.length;
            int c = r == 0 ? 0 : m[0].length;
            double[] d = new double[r * c];
            for (int i = 0; i < r; i++) {
                if (m[i].length != c) {
                    throw new IllegalArgumentException("ragged matrix");
                }
                System.arraycopy(m[i], 0, d, i * c, c);
            }
            return new Array(new long[] {r, c}, d);
        }
    }

    /**
     * Reads one array.
     *
     * @param name for error messages
     * @throws IOException when the stream is not a supported .npy array or ends early
     */
    public static Array read(InputStream in, String name) throws IOException {
        DataInputStream din = new DataInputStream(in);
        byte[] magic = new byte[MAGIC.length];
        readFully(din, magic, name);
        if (!Arrays.equals(magic, MAGIC)) {
            throw new IOException(name + ": not a .npy array (bad magic)");
        }
        int major = din.readUnsignedByte();
        din.readUnsignedByte(); // minor
        long headerLen;
        byte[] lenBytes = new byte[major == 1 ? 2 : 4];
        if (major < 1 || major > 3) {
            throw new IOException(name + ": unsupported .npy format version " + major);
        }
        readFully(din, lenBytes, name);
        ByteBuffer lb = ByteBuffer.wrap(lenBytes).order(ByteOrder.LITTLE_ENDIAN);
        headerLen = major == 1 ? lb.getShort() & 0xffff : lb.getInt() & 0xffffffffL;
        if (headerLen > 1 << 20) {
            throw new IOException(name + ": .npy header of " + headerLen + " bytes");
        }
        byte[] hb = new byte[(int) headerLen];
        readFully(din, hb, name);
        String header = new String(hb, major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        Matcher d = DESCR.matcher(header);
        Matcher f = FORTRAN.matcher(header);
        Matcher s = SHAPE.matcher(header);
        if (!d.find() || !f.find() || !s.find()) {
            throw new IOException(name + ": unsupported .npy header " + header.trim()
                    + " (expected a numeric array: float or integer elements)");
        }
        ByteOrder order = d.group(1).equals(">") ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN;
        char kind = d.group(2).charAt(0);
        int bytes = Integer.parseInt(d.group(3));
        boolean fortran = f.group(1).equals("True");
        List<Long> dims = new ArrayList<>();
        for (String part : s.group(1).split(",")) {
            if (!part.isBlank()) {
                dims.add(Long.parseLong(part.trim()));
            }
        }
        long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
        long n = 1;
        for (long x : shape) {
            n *= x;
        }
        if (n > MAX_ELEMENTS / Math.max(1, bytes)) {
            throw new IOException(name + ": array of " + n + " elements is too large to read into memory");
        }
        byte[] raw = new byte[(int) (n * bytes)];
        readFully(din, raw, name);
        ByteBuffer bb = ByteBuffer.wrap(raw).order(order);
        double[] v = new double[(int) n];
        for (int i = 0; i < n; i++) {
            v[i] = switch (kind + Integer.toString(bytes)) {
                case "f4" -> bb.getFloat();
                case "f8" -> bb.getDouble();
                case "i1" -> bb.get();
                case "i2" -> bb.getShort();
                case "i4" -> bb.getInt();
                case "i8" -> bb.getLong();
                case "u1" -> bb.get() & 0xff;
                case "u2" -> bb.getShort() & 0xffff;
                case "u4" -> bb.getInt() & 0xffffffffL;
                default -> throw new IOException(name + ": unsupported element type " + d.group(0));
            };
        }
        if (fortran && shape.length > 1) {
            v = fortranToC(v, shape);
        }
        return new Array(shape, v);
    }

    /** Reorders column-major values into row-major order. */
    private static double[] fortranToC(double[] f, long[] shape) {
        int dims = shape.length;
        double[] c = new double[f.length];
        int[] idx = new int[dims];
        for (int i = 0; i < f.length; i++) { // i walks C order; find the Fortran offset
            long off = 0;
            long stride = 1;
            for (int k = 0; k < dims; k++) {
                off += idx[k] * stride;
                stride *= shape[k];
            }
            c[i] = f[(int) off];
            for (int k = dims - 1; k >= 0; k--) {
                if (++idx[k] < shape[k]) {
                    break;
                }
                idx[k] = 0;
            }
        }
        return c;
    }

    /** Writes {@code a} as a version 1.0 {@code <f8} C-order array. */
    public static void write(Array a, OutputStream out) throws IOException {
        String shape = a.shape().length == 1 ? "(" + a.shape()[0] + ",)"
                : "(" + String.join(", ", Arrays.stream(a.shape()).mapToObj(Long::toString).toList()) + ")";
        StringBuilder h = new StringBuilder("{'descr': '<f8', 'fortran_order': False, 'shape': " + shape + ", }");
        int total = MAGIC.length + 2 + 2 + h.length() + 1;
        while (total % 64 != 0) {
            h.append(' ');
            total++;
        }
        h.append('\n');
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        head.write(MAGIC);
        head.write(1);
        head.write(0);
        byte[] hb = h.toString().getBytes(StandardCharsets.ISO_8859_1);
        head.write(hb.length & 0xff);
        head.write(hb.length >>> 8);
        head.write(hb);
        out.write(head.toByteArray());
        ByteBuffer bb = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        for (double v : a.data()) {
            if (!bb.hasRemaining()) {
                out.write(bb.array(), 0, bb.position());
                bb.clear();
            }
            bb.putDouble(v);
        }
        out.write(bb.array(), 0, bb.position());
    }

    private static void readFully(DataInputStream in, byte[] buf, String name) throws IOException {
        try {
            in.readFully(buf);
        } catch (EOFException e) {
            throw new IOException(name + ": truncated .npy array", e);
        }
    }
}
