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
import java.util.Set;
import java.util.TreeSet;
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
 * bad_label}. Other members are ignored. Lazy: one sample in memory at a time.
 *
 * <p>A damaged archive (cut off, without its end-of-archive records, or with a broken header) ends
 * the shard, and every sample whose key was read is accounted for: a sample followed by the header
 * of another sample is complete and kept; the sample of a member that cannot be read whole is
 * rejected as {@code read_error} (the message names the member and its declared size); the sample
 * being read when a header cannot be read is kept only if it has every field of the shard's
 * previous sample (see {@link #endDamaged}); and the damage adds one {@code read_error} reject
 * for the rest of the shard ({@code <shard> after sample <key>}).
 *
 * <p>A member larger than the member cap ({@link #DEFAULT_MAX_MEMBER_BYTES} unless given) is not
 * read into memory: the reader streams past its bytes and its sample is rejected as {@code
 * read_error} naming the member, its size and the cap (as ImageFolder files too large for one
 * Java array are rejected unread).
 */
public final class WebDatasetReader implements Iterator<SourceRecord>, Closeable {
    /** Image fields, in priority order. */
    public static final List<String> IMAGE_FIELDS =
            List.of("jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff", "img", "image");

    /**
     * Default member cap: 256 MiB. Far above any real dataset image (ImageNet's largest training
     * JPEG is ~15 MB) and above the encoded size of most images at the decoder's pixel cap
     * (178,956,970 pixels, whose decoded {@code int[]} alone is 716 MB), while a task holds its
     * sample's members and the decoded pixels at once: the heap a member may take stays a small
     * part of an executor's.
     */
    public static final long DEFAULT_MAX_MEMBER_BYTES = 256L << 20;
    /** The largest cap: one Java array. */
    public static final long MAX_ARRAY_BYTES = Integer.MAX_VALUE - 8;

    private static final ObjectMapper JSON = new ObjectMapper();

    private final MarkedTarStream tar;
    private final String shardName;
    private final long maxMemberBytes;
    private final ArrayDeque<SourceRecord> ready = new ArrayDeque<>();
    private TarArchiveEntry pendingEntry;
    private Member pendingData;
    private boolean done;
    private Set<String> lastFields; // fields of the last sample known to be complete

    /**
     * @param in the tar stream (closed by {@link #close()})
     * @param shardName tar name used as the key prefix, e.g. {@code train-0000.tar}
     */
    public WebDatasetReader(InputStream in, String shardName) {
        this(in, shardName, DEFAULT_MAX_MEMBER_BYTES);
    }

    /**
     * @param in the tar stream (closed by {@link #close()})
     * @param shardName tar name used as the key prefix
     * @param maxMemberBytes the member cap, in [1, {@link #MAX_ARRAY_BYTES}]: a larger member is
     *     skipped unread and its sample rejected
     */
    public WebDatasetReader(InputStream in, String shardName, long maxMemberBytes) {
        if (maxMemberBytes < 1 || maxMemberBytes > MAX_ARRAY_BYTES) {
            throw new IllegalArgumentException("member cap must be in [1, " + MAX_ARRAY_BYTES + "] bytes, got "
                    + maxMemberBytes);
        }
        this.tar = new MarkedTarStream(in);
        this.shardName = shardName;
        this.maxMemberBytes = maxMemberBytes;
    }

    /**
     * One member of a sample.
     *
     * @param name the member path in the tar
     * @param size its declared size
     * @param data its bytes, or null when it is over the member cap (not read)
     */
    private record Member(String name, long size, byte[] data) {}

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
        Map<String, Member> members = new LinkedHashMap<>();
        String key = null;
        while (true) {
            TarArchiveEntry e;
            Member data;
            if (pendingEntry != null) {
                e = pendingEntry;
                data = pendingData;
                pendingEntry = null;
            } else {
                try {
                    e = tar.getNextEntry();
                } catch (IOException | RuntimeException ex) { // an unreadable header: the rest is lost
                    endDamaged(key, members, "unreadable tar header: " + ex);
                    return;
                }
                if (e == null) {
                    if (!tar.sawEndMarker) {
                        endDamaged(key, members, "the archive ends without its end-of-archive records (cut off?)");
                        return;
                    }
                    done = true;
                    break;
                }
                if (!e.isFile()) {
                    continue;
                }
                try { // over the cap: not read (the next getNextEntry streams past its bytes)
                    data = new Member(e.getName(), e.getSize(), e.getSize() > maxMemberBytes ? null : tar.readAllBytes());
                } catch (IOException | RuntimeException ex) { // the archive ends (or breaks) inside this member
                    done = true;
                    String k = keyOf(e.getName());
                    if (key != null && !key.equals(k)) {
                        ready.add(complete(key, members)); // this member's header proves that sample complete
                        members = new LinkedHashMap<>();
                    }
                    ready.add(SourceRecord.rejected(shardName + "/" + k, shardName + "/" + e.getName(),
                            size(members) + e.getSize(), RejectReason.READ_ERROR, "member " + e.getName()
                                    + " declares " + e.getSize() + " bytes but cannot be read whole: " + ex));
                    return;
                }
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
        if (key != null) {
            ready.add(complete(key, members));
        }
    }

    /** A sample known to be complete; its fields become the shard's reference fields. */
    private SourceRecord complete(String key, Map<String, Member> members) {
        lastFields = Set.copyOf(members.keySet());
        return toRecord(key, members);
    }

    /**
     * The archive cannot be read past the members already read. Whether the sample being read is
     * complete cannot be seen from the archive (more of its members may have followed), so it is
     * kept when it has every field of the shard's previous sample (WebDataset shards are
     * homogeneous) and rejected otherwise; the damage itself is one {@code read_error} reject for
     * the rest of the shard.
     */
    private void endDamaged(String key, Map<String, Member> members, String detail) {
        done = true;
        String where = key == null ? "its start" : "sample " + key;
        if (key != null) {
            if (lastFields != null && members.keySet().containsAll(lastFields)) {
                ready.add(toRecord(key, members));
            } else {
                ready.add(SourceRecord.rejected(shardName + "/" + key, shardName + "/" + key, size(members),
                        RejectReason.READ_ERROR, "the archive breaks after members " + members.keySet()
                                + (lastFields == null ? " of its first sample" : ", the shard's samples have "
                                        + new TreeSet<>(lastFields)) + ": the sample may be incomplete; " + detail));
                where = "it";
            }
        }
        ready.add(SourceRecord.rejected(shardName + "/" + (key == null ? "" : key) + "~rest",
                shardName + " after " + where, 0, RejectReason.READ_ERROR, detail));
    }

    private SourceRecord toRecord(String key, Map<String, Member> members) {
        String sortKey = shardName + "/" + key;
        for (Member m : members.values()) {
            if (m.data() == null) {
                return SourceRecord.rejected(sortKey, shardName + "/" + m.name(), size(members), RejectReason.READ_ERROR,
                        "member " + m.name() + " is " + m.size() + " bytes, over the member cap of " + maxMemberBytes
                                + " bytes (skipped unread; ingest --max-member-mb)");
            }
        }
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
        return SourceRecord.image(sortKey, path, members.get(imageField).data(), label);
    }

    private static long label(Map<String, Member> members) throws IOException {
        Member cls = members.get("cls");
        if (cls != null) {
            return Long.parseLong(new String(cls.data(), StandardCharsets.UTF_8).trim());
        }
        Member json = members.get("json");
        if (json != null) {
            JsonNode n = JSON.readTree(json.data());
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

    private static long size(Map<String, Member> members) {
        long s = 0;
        for (Member m : members.values()) {
            s += m.data() == null ? m.size() : m.data().length;
        }
        return s;
    }

    @Override
    public void close() throws IOException {
        tar.close();
    }

    /** A tar stream that tells an archive ending with its all-zero end records from a cut-off one. */
    private static final class MarkedTarStream extends TarArchiveInputStream {
        boolean sawEndMarker;

        MarkedTarStream(InputStream in) {
            super(in);
        }

        @Override
        protected boolean isEOFRecord(byte[] record) {
            boolean eof = super.isEOFRecord(record);
            sawEndMarker |= eof && record != null; // null: the stream ended (inside) a record
            return eof;
        }
    }
}
