package dev.rq.model.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Reads and writes the <a href="https://github.com/huggingface/safetensors">safetensors</a>
 * format: an 8-byte little-endian header length, a JSON header ({@code dtype}, {@code shape},
 * {@code data_offsets} per tensor, optional {@code __metadata__} of strings), then raw
 * little-endian tensor bytes. No code is executed when reading (unlike pickle).
 *
 * <p>Both directions stream: {@link #read(InputStream, TensorSource.Reader)} hands out one tensor
 * at a time in file order and {@link #write} pulls one tensor at a time from {@link TensorData}
 * views, so files of any size (tens of GB) pass through a bounded heap; only a single tensor must
 * fit in a Java array (at most 2 GiB, an error names a larger one).
 */
public final class SafeTensors {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_HEADER = 100L << 20;
    private static final int SKIP_CHUNK = 1 << 20;

    private SafeTensors() {}

    /**
     * One tensor of a file.
     *
     * @param name its key
     * @param dtype element type
     * @param shape dimensions
     * @param begin first data byte, relative to the end of the header
     * @param end one past its last data byte
     */
    public record Entry(String name, HostTensor.Dtype dtype, long[] shape, long begin, long end) {
        /** @return data bytes */
        public long bytes() {
            return end - begin;
        }
    }

    /**
     * The header of a file: its tensors in header order (the order of {@link #keys}) and its string
     * metadata.
     *
     * @param entries by name, in header order
     * @param metadata {@code __metadata__}
     */
    public record Header(Map<String, Entry> entries, Map<String, String> metadata) {
        /** @return the tensor names in header order */
        public List<String> keys() {
            return new ArrayList<>(entries.keySet());
        }

        /** @return the entry of {@code name}, or null */
        public Entry entry(String name) {
            return entries.get(name);
        }

        /** @return this header without the entries whose name matches {@code drop} */
        public Header without(Predicate<String> drop) {
            Map<String, Entry> kept = new LinkedHashMap<>();
            entries.forEach((k, v) -> {
                if (!drop.test(k)) {
                    kept.put(k, v);
                }
            });
            return new Header(kept, metadata);
        }
    }

    /** The tensors of a file in file order, plus its string metadata. */
    public record Contents(Map<String, HostTensor> tensors, Map<String, String> metadata) {
        /** @return the named tensor; fails with the list of keys when absent */
        public HostTensor get(String key) {
            HostTensor t = tensors.get(key);
            if (t == null) {
                throw new IllegalArgumentException(
                        "tensor '" + key + "' not found; file has " + tensors.keySet());
            }
            return t;
        }
    }

    /**
     * Reads a whole safetensors stream into host tensors (small files; large ones stream with
     * {@link #read(InputStream, TensorSource.Reader)}).
     *
     * @throws IOException on a malformed header or when the stream ends before all tensor data
     */
    public static Contents read(InputStream in) throws IOException {
        Map<String, HostTensor> tensors = new LinkedHashMap<>();
        Header h = read(in, new TensorSource.Reader() {
            @Override
            public Predicate<String> begin(Header header) {
                return k -> true;
            }

            @Override
            public void tensor(String name, HostTensor t) {
                tensors.put(name, t);
            }
        });
        // keep the header's order (sorted by name in files written by the Python library)
        Map<String, HostTensor> ordered = new LinkedHashMap<>();
        for (String k : h.keys()) {
            ordered.put(k, tensors.get(k));
        }
        return new Contents(ordered, h.metadata());
    }

    /**
     * Streams a safetensors file: reads the header, asks {@code reader} which tensors it wants,
     * then reads the data in file order, handing each wanted tensor to the reader and skipping the
     * others. The stream is left just after the last tensor's data.
     *
     * @return the header
     * @throws IOException on a malformed header, overlapping data, a tensor over 2 GiB that is
     *     wanted, or a stream that ends early
     */
    public static Header read(InputStream in, TensorSource.Reader reader) throws IOException {
        Header header = readHeader(in);
        Predicate<String> wanted = reader.begin(header);
        long pos = 0;
        for (Entry e : inFileOrder(header)) {
            skip(in, e.begin() - pos, e.name());
            if (wanted.test(e.name())) {
                if (e.bytes() > Integer.MAX_VALUE - 8) {
                    throw new IOException("tensor '" + e.name() + "' has " + e.bytes() + " bytes: a single tensor"
                            + " over 2 GiB cannot be loaded (files of any size can)");
                }
                byte[] data = new byte[(int) e.bytes()];
                readFully(in, data, "tensor '" + e.name() + "'");
                reader.tensor(e.name(), new HostTensor(e.dtype(), e.shape(), data));
            } else {
                skip(in, e.bytes(), e.name());
            }
            pos = e.end();
        }
        return header;
    }

    /** Reads the length and the JSON header; the stream is left at the first data byte. */
    public static Header readHeader(InputStream in) throws IOException {
        byte[] lenBytes = new byte[8];
        readFully(in, lenBytes, "header length");
        long headerLen = ByteBuffer.wrap(lenBytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (headerLen <= 0 || headerLen > MAX_HEADER) {
            throw new IOException("not a safetensors file: header length " + headerLen);
        }
        byte[] header = new byte[(int) headerLen];
        readFully(in, header, "header");
        return parseHeader(header);
    }

    /**
     * Reads only what {@code reader} wants of a file open for positioned reads: the length and the JSON
     * header, then, in file order, the byte ranges of the wanted tensors (the others are never read).
     * Each tensor is read in chunks of at most 1 MiB into one off-heap buffer (reused, sized to the
     * largest wanted tensor) handed to {@link TensorSource.Reader#tensor(Entry, ByteBuffer)}: no tensor
     * is held in a Java array. Checked: the header parses, data ranges do not overlap, each fits its
     * shape and dtype, and the data end where the file ends ({@code length}); a file's checksum cannot
     * be, as most of it is not read.
     *
     * @param length the file's size in bytes
     * @return the header
     */
    public static Header readRanged(PositionedInput in, long length, TensorSource.Reader reader) throws IOException {
        byte[] lenBytes = new byte[8];
        in.readFully(0, lenBytes, 0, 8);
        long headerLen = ByteBuffer.wrap(lenBytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (headerLen <= 0 || headerLen > MAX_HEADER || 8 + headerLen > length) {
            throw new IOException("not a safetensors file: header length " + headerLen);
        }
        byte[] bytes = new byte[(int) headerLen];
        in.readFully(8, bytes, 0, bytes.length);
        Header header = parseHeader(bytes);
        long base = 8 + headerLen;
        List<Entry> byOffset = inFileOrder(header);
        long end = byOffset.isEmpty() ? 0 : byOffset.get(byOffset.size() - 1).end();
        if (base + end != length) {
            throw new IOException("the header's tensor data end at byte " + (base + end) + ", the file has " + length
                    + " bytes (truncated or altered)");
        }
        Predicate<String> wanted = reader.begin(header);
        long largest = 0;
        for (Entry e : byOffset) {
            if (wanted.test(e.name())) {
                largest = Math.max(largest, e.bytes());
            }
        }
        if (largest > Integer.MAX_VALUE - 8) {
            throw new IOException("a wanted tensor has " + largest + " bytes: a single tensor over 2 GiB cannot be"
                    + " loaded (files of any size can)");
        }
        ByteBuffer buffer = ByteBuffer.allocateDirect((int) largest).order(ByteOrder.LITTLE_ENDIAN);
        byte[] chunk = new byte[(int) Math.min(SKIP_CHUNK, largest)];
        for (Entry e : byOffset) {
            if (!wanted.test(e.name())) {
                continue;
            }
            buffer.clear();
            for (long done = 0; done < e.bytes(); ) {
                int n = (int) Math.min(chunk.length, e.bytes() - done);
                in.readFully(base + e.begin() + done, chunk, 0, n);
                buffer.put(chunk, 0, n);
                done += n;
            }
            buffer.flip();
            reader.tensor(e, buffer);
        }
        return header;
    }

    /** @return the header's entries sorted by their data's position; fails if two overlap */
    private static List<Entry> inFileOrder(Header header) throws IOException {
        List<Entry> byOffset = new ArrayList<>(header.entries().values());
        byOffset.sort(Comparator.comparingLong(Entry::begin));
        long pos = 0;
        for (Entry e : byOffset) {
            if (e.begin() < pos) {
                throw new IOException("overlapping tensor data at '" + e.name() + "'");
            }
            pos = e.end();
        }
        return byOffset;
    }

    private static Header parseHeader(byte[] header) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(new String(header, StandardCharsets.UTF_8).trim());
        } catch (IOException e) {
            throw new IOException("not a safetensors file: unreadable JSON header", e);
        }
        if (root == null || !root.isObject()) {
            throw new IOException("not a safetensors file: the header is not a JSON object");
        }
        Map<String, Entry> entries = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            if (f.getKey().equals("__metadata__")) {
                f.getValue().fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            entries.put(f.getKey(), entry(f.getKey(), f.getValue()));
        }
        return new Header(entries, metadata);
    }

    private static Entry entry(String name, JsonNode n) throws IOException {
        JsonNode shapeNode = n.get("shape");
        JsonNode offsets = n.get("data_offsets");
        JsonNode dtypeNode = n.get("dtype");
        if (shapeNode == null || offsets == null || dtypeNode == null || offsets.size() != 2) {
            throw new IOException("malformed header entry for '" + name + "'");
        }
        HostTensor.Dtype dtype;
        try {
            dtype = HostTensor.Dtype.valueOf(dtypeNode.asText());
        } catch (IllegalArgumentException e) {
            throw new IOException("tensor '" + name + "' has unsupported dtype " + dtypeNode.asText());
        }
        long[] shape = new long[shapeNode.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = shapeNode.get(i).asLong();
        }
        Entry e = new Entry(name, dtype, shape, offsets.get(0).asLong(), offsets.get(1).asLong());
        if (e.begin() < 0 || e.bytes() != HostTensor.numel(shape) * dtype.bytes) {
            throw new IOException("tensor '" + name + "': data_offsets " + offsets + " do not fit shape "
                    + shapeNode + " and dtype " + dtype);
        }
        return e;
    }

    private static void skip(InputStream in, long n, String before) throws IOException {
        // read (not seek): a hashing stream must see every byte
        byte[] buf = null;
        while (n > 0) {
            if (buf == null) {
                buf = new byte[(int) Math.min(SKIP_CHUNK, n)];
            }
            int r = in.read(buf, 0, (int) Math.min(buf.length, n));
            if (r < 0) {
                throw new IOException("truncated safetensors file: stream ended at or before tensor '" + before + "'");
            }
            n -= r;
        }
    }

    private static void readFully(InputStream in, byte[] buf, String what) throws IOException {
        int off = 0;
        while (off < buf.length) {
            int r = in.read(buf, off, buf.length - off);
            if (r < 0) {
                throw new IOException("truncated safetensors file: stream ended inside " + what,
                        new EOFException());
            }
            off += r;
        }
    }

    /**
     * Writes tensors (in map order) and string metadata to {@code out}, one tensor at a time: the
     * header is computed from the tensors' shapes, then each {@link TensorData#writeTo} streams its
     * bytes (and must write exactly {@link TensorData#byteSize()} of them).
     */
    public static void write(Map<String, ? extends TensorData> tensors, Map<String, String> metadata,
            OutputStream out) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Map.Entry<String, ? extends TensorData> e : tensors.entrySet()) {
            TensorData t = e.getValue();
            ObjectNode n = header.putObject(e.getKey());
            n.put("dtype", t.dtype().name());
            var shape = n.putArray("shape");
            for (long s : t.shape()) {
                shape.add(s);
            }
            var offs = n.putArray("data_offsets");
            offs.add(offset);
            offs.add(offset + t.byteSize());
            offset += t.byteSize();
        }
        ByteArrayOutputStream hb = new ByteArrayOutputStream();
        hb.write(JSON.writeValueAsBytes(header));
        while (hb.size() % 8 != 0) {
            hb.write(' ');
        }
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(hb.size());
        out.write(len.array());
        hb.writeTo(out);
        for (Map.Entry<String, ? extends TensorData> e : tensors.entrySet()) {
            long[] count = new long[1];
            OutputStream counting = new FilterOutputStream(out) {
                @Override
                public void write(int b) throws IOException {
                    out.write(b);
                    count[0]++;
                }

                @Override
                public void write(byte[] b, int off, int len) throws IOException {
                    out.write(b, off, len);
                    count[0] += len;
                }

                @Override
                public void close() {
                    // the caller owns the stream
                }
            };
            e.getValue().writeTo(counting);
            if (count[0] != e.getValue().byteSize()) {
                throw new IOException("tensor '" + e.getKey() + "' wrote " + count[0] + " bytes, its header says "
                        + e.getValue().byteSize());
            }
        }
    }

    /**
     * The tensors of a file whose header was just read ({@link #readHeader}), as views that read
     * their bytes from {@code in} when written — a streaming copy that holds one chunk at a time,
     * converting floating-point tensors to {@code floats} (F16 and F64 to F32, for example; null
     * keeps every dtype). The map is in file order; write each view once, in that order.
     */
    public static Map<String, TensorData> sequential(InputStream in, Header header, HostTensor.Dtype floats) {
        List<Entry> byOffset = new ArrayList<>(header.entries().values());
        byOffset.sort(Comparator.comparingLong(Entry::begin));
        long[] pos = {0};
        Map<String, TensorData> out = new LinkedHashMap<>();
        for (Entry e : byOffset) {
            HostTensor.Dtype to = floats != null && isFloat(e.dtype()) ? floats : e.dtype();
            out.put(e.name(), new TensorData() {
                @Override
                public HostTensor.Dtype dtype() {
                    return to;
                }

                @Override
                public long[] shape() {
                    return e.shape().clone();
                }

                @Override
                public void writeTo(OutputStream target) throws IOException {
                    if (pos[0] > e.begin()) {
                        throw new IOException("tensor '" + e.name() + "' read out of file order");
                    }
                    skip(in, e.begin() - pos[0], e.name());
                    copy(in, e, to, target);
                    pos[0] = e.end();
                }
            });
        }
        return out;
    }

    private static boolean isFloat(HostTensor.Dtype d) {
        return d == HostTensor.Dtype.F32 || d == HostTensor.Dtype.F16 || d == HostTensor.Dtype.F64;
    }

    /** Copies one tensor's data from {@code in} to {@code out} in chunks, converting {@code e.dtype()} to {@code to}. */
    private static void copy(InputStream in, Entry e, HostTensor.Dtype to, OutputStream out) throws IOException {
        int from = e.dtype().bytes;
        long elements = e.bytes() / from;
        int perChunk = SKIP_CHUNK / Math.max(from, to.bytes);
        byte[] src = new byte[(int) Math.min(elements, perChunk) * from];
        ByteBuffer dst = ByteBuffer.allocate((int) Math.min(elements, perChunk) * to.bytes).order(ByteOrder.LITTLE_ENDIAN);
        for (long done = 0; done < elements; ) {
            int n = (int) Math.min(perChunk, elements - done);
            byte[] chunk = src.length == n * from ? src : java.util.Arrays.copyOf(src, n * from);
            readFully(in, chunk, "tensor '" + e.name() + "'");
            if (to == e.dtype()) {
                out.write(chunk, 0, n * from);
            } else {
                ByteBuffer b = ByteBuffer.wrap(chunk).order(ByteOrder.LITTLE_ENDIAN);
                dst.clear();
                for (int i = 0; i < n; i++) {
                    double v = switch (e.dtype()) {
                        case F16 -> HostTensor.Float.float16ToFloatCompat(b.getShort());
                        case F32 -> b.getFloat();
                        case F64 -> b.getDouble();
                        default -> throw new IOException("cannot convert " + e.dtype() + " tensor '" + e.name()
                                + "' to " + to);
                    };
                    switch (to) {
                        case F32 -> dst.putFloat((float) v);
                        case F64 -> dst.putDouble(v);
                        default -> throw new IOException("cannot convert tensor '" + e.name() + "' to " + to);
                    }
                }
                out.write(dst.array(), 0, dst.position());
            }
            done += n;
        }
    }
}
