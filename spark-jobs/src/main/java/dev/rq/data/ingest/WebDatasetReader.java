package dev.rq.data.ingest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rq.data.image.RejectReason;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * Streams the samples of one WebDataset tar shard. Members that share a key (the member path up to
 * the first "." of its base name, WebDataset's {@code __key__}) and are adjacent in the tar form
 * one sample; the rest of the name is the field ({@code jpg}, {@code cls}, {@code json}, …).
 *
 * <p>Per sample: the image is the first member whose field (case-insensitive, or its last
 * dot-component) is one of {@link #IMAGE_FIELDS}, in that priority order; the label is the
 * integer in {@code .cls}, else the {@code label} or {@code cls} integer of {@code .json}, else -1.
 * A sample without an image member is rejected as {@code no_image}; an unparsable label as {@code
 * bad_label}; a tar read error rejects the sample being read as {@code read_error} and ends the
 * shard. Other members are ignored. Lazy: one sample in memory at a time.
 */
public final class WebDatasetReader implements Iterator<SourceRecord>, Closeable {
    /** Image fields, in priority order. */
    public static final List<String> IMAGE_FIELDS =
            List.of("jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff", "img", "image");

    private static final ObjectMapper JSON = new ObjectMapper();

    private final TarArchiveInputStream tar;
    private final String shardName;
    private final ArrayDeque<SourceRecord> ready = new ArrayDeque<>();
    private TarArchiveEntry pendingEntry;
    private byte[] pendingData;
    private boolean done;

    /**
     * @param in the tar stream (closed by {@link #close()})
     * @param shardName tar name used as the key prefix, e.g. {@code train-0000.tar}
     */
    public WebDatasetReader(InputStream in, String shardName) {
        this.tar = new TarArchiveInputStream(in);
        this.shardName = shardName;
    }

    /** Key of a member path: directory + base name up to its first dot. */
    static String keyOf(String name) {
        int slash = name.lastIndexOf('/');
        int dot = name.indexOf('.', slash + 1);
        return dot < 0 ? name : name.substring(0, dot);
    }

    static String fieldOf(String name) {
        int slash = name.lastIndexOf('/');
        int dot = name.indexOf('.', slash + 1);
        return dot < 0 ? "" : name.substring(dot + 1).toLowerCase(Locale.ROOT);
    }

    @Override
    public boolean hasNext() {
        if (ready.isEmpty() && !done) {
            readSample();
        }
        return !ready.isEmpty();
    }

    @Override
    public SourceRecord next() {
        if (!hasNext()) {
            throw new NoSuchElementException();
        }
        return ready.poll();
    }

    private void readSample() {
        Map<String, byte[]> members = new LinkedHashMap<>();
        String key = null;
        try {
            while (true) {
                TarArchiveEntry e;
                byte[] data;
                if (pendingEntry != null) {
                    e = pendingEntry;
                    data = pendingData;
                    pendingEntry = null;
                } else {
                    e = tar.getNextEntry();
                    if (e == null) {
                        done = true;
                        break;
                    }
                    if (!e.isFile()) {
                        continue;
                    }
                    data = tar.readAllBytes();
                }
                String k = keyOf(e.getName());
                if (key == null) {
                    key = k;
                } else if (!key.equals(k)) {
                    pendingEntry = e;
                    pendingData = data;
                    break;
                }
                members.put(fieldOf(e.getName()), data);
            }
        } catch (IOException | RuntimeException ex) {
            done = true;
            String k = key == null ? "<tar>" : key;
            ready.add(SourceRecord.rejected(shardName + "/" + k, shardName + "/" + k,
                    size(members), RejectReason.READ_ERROR, String.valueOf(ex)));
            return;
        }
        if (key != null) {
            ready.add(toRecord(key, members));
        }
    }

    private SourceRecord toRecord(String key, Map<String, byte[]> members) {
        String sortKey = shardName + "/" + key;
        String imageField = null;
        for (String f : IMAGE_FIELDS) {
            for (String m : members.keySet()) {
                if (m.equals(f) || m.endsWith("." + f)) {
                    imageField = m;
                    break;
                }
            }
            if (imageField != null) {
                break;
            }
        }
        if (imageField == null) {
            return SourceRecord.rejected(sortKey, sortKey, size(members), RejectReason.NO_IMAGE,
                    "members: " + members.keySet());
        }
        String path = sortKey + "." + imageField;
        long label;
        try {
            label = label(members);
        } catch (IOException | RuntimeException e) {
            return SourceRecord.rejected(sortKey, path, size(members), RejectReason.BAD_LABEL,
                    String.valueOf(e));
        }
        return SourceRecord.image(sortKey, path, members.get(imageField), label);
    }

    private static long label(Map<String, byte[]> members) throws IOException {
        byte[] cls = members.get("cls");
        if (cls != null) {
            return Long.parseLong(new String(cls, StandardCharsets.UTF_8).trim());
        }
        byte[] json = members.get("json");
        if (json != null) {
            JsonNode n = JSON.readTree(json);
            for (String f : List.of("label", "cls")) {
                JsonNode v = n.get(f);
                if (v != null && !v.isNull()) {
                    if (!v.canConvertToLong() || !v.isIntegralNumber() && !v.isTextual()) {
                        throw new IOException("json " + f + " is not an integer: " + v);
                    }
                    return v.isTextual() ? Long.parseLong(v.asText().trim()) : v.asLong();
                }
            }
        }
        return -1L;
    }

    private static long size(Map<String, byte[]> members) {
        long s = 0;
        for (byte[] b : members.values()) {
            s += b.length;
        }
        return s;
    }

    @Override
    public void close() throws IOException {
        tar.close();
    }
}
