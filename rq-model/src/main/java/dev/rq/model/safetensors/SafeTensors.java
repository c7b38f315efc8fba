package dev.rq.model.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
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
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads and writes the <a href="https://github.com/huggingface/safetensors">safetensors</a>
 * format: an 8-byte little-endian header length, a JSON header ({@code dtype}, {@code shape},
 * {@code data_offsets} per tensor, optional {@code __metadata__} of strings), then raw
 * little-endian tensor bytes. No code is executed when reading (unlike pickle).
 */
public final class SafeTensors {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_HEADER = 100L << 20;

    private SafeTensors() {}

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
     * Reads a whole safetensors stream.
     *
     * @throws IOException on a malformed header or when the stream ends before all tensor data
     */
    public static Contents read(InputStream in) throws IOException {
        DataInputStream din = new DataInputStream(in);
        byte[] lenBytes = new byte[8];
        readFully(din, lenBytes, "header length");
        long headerLen = ByteBuffer.wrap(lenBytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (headerLen <= 0 || headerLen > MAX_HEADER) {
            throw new IOException("not a safetensors file: header length " + headerLen);
        }
        byte[] header = new byte[(int) headerLen];
        readFully(din, header, "header");
        JsonNode root;
        try {
            root = JSON.readTree(new String(header, StandardCharsets.UTF_8).trim());
        } catch (IOException e) {
            throw new IOException("not a safetensors file: unreadable JSON header", e);
        }
        record Entry(String name, HostTensor.Dtype dtype, long[] shape, long begin, long end) {}
        List<Entry> entries = new ArrayList<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            if (f.getKey().equals("__metadata__")) {
                f.getValue().fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            JsonNode n = f.getValue();
            long[] shape = new long[n.get("shape").size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = n.get("shape").get(i).asLong();
            }
            entries.add(
                    new Entry(
                            f.getKey(),
                            HostTensor.Dtype.valueOf(n.get("dtype").asText()),
                            shape,
                            n.get("data_offsets").get(0).asLong(),
                            n.get("data_offsets").get(1).asLong()));
        }
        entries.sort((a, b) -> Long.compare(a.begin, b.begin));
        Map<String, HostTensor> tensors = new LinkedHashMap<>();
        long pos = 0;
        for (Entry e : entries) {
            if (e.begin != pos) {
                if (e.begin < pos) {
                    throw new IOException("overlapping tensor data at '" + e.name + "'");
                }
                din.skipNBytes(e.begin - pos);
            }
            byte[] data = new byte[Math.toIntExact(e.end - e.begin)];
            readFully(din, data, "tensor '" + e.name + "'");
            tensors.put(e.name, new HostTensor(e.dtype, e.shape, data));
            pos = e.end;
        }
        // keep the header's order (sorted by name in files written by the Python library)
        Map<String, HostTensor> ordered = new LinkedHashMap<>();
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (tensors.containsKey(k)) {
                ordered.put(k, tensors.get(k));
            }
        }
        return new Contents(ordered, metadata);
    }

    private static void readFully(DataInputStream in, byte[] buf, String what) throws IOException {
        try {
            in.readFully(buf);
        } catch (EOFException e) {
            throw new IOException("truncated safetensors file: stream ended inside " + what, e);
        }
    }

    /** Writes tensors (in map order) and string metadata to {@code out}. */
    public static void write(Map<String, HostTensor> tensors, Map<String, String> metadata, OutputStream out)
            throws IOException {
        ObjectNode header = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Map.Entry<String, HostTensor> e : tensors.entrySet()) {
            HostTensor t = e.getValue();
            ObjectNode n = header.putObject(e.getKey());
            n.put("dtype", t.dtype().name());
            var shape = n.putArray("shape");
            for (long s : t.shape()) {
                shape.add(s);
            }
            var offs = n.putArray("data_offsets");
            offs.add(offset);
            offs.add(offset + t.data().length);
            offset += t.data().length;
        }
        ByteArrayOutputStream hb = new ByteArrayOutputStream();
        hb.write(JSON.writeValueAsBytes(header));
        while (hb.size() % 8 != 0) {
            hb.write(' ');
        }
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(hb.size());
        out.write(len.array());
        hb.writeTo(out);
        for (HostTensor t : tensors.values()) {
            out.write(t.data());
        }
    }
}
