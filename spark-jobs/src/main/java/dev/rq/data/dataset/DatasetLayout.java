package dev.rq.data.dataset;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Types;

/**
 * Names and schemas of the canonical dataset layout:
 *
 * <pre>
 * &lt;root&gt;/&lt;split&gt;/&lt;split&gt;-00000-of-00004.parquet   image: struct&lt;bytes: binary, path: string&gt;, label: int64
 * &lt;root&gt;/&lt;split&gt;/_rejects/rejects-00000-of-00004.parquet  path: string, reason: string, size: int64, detail: string
 * &lt;root&gt;/&lt;split&gt;/_dataset_info.json                 sidecar, written last; readers require it
 * </pre>
 *
 * Each shard's Parquet footer also carries the Hugging Face {@code huggingface} key ({@code
 * {"info":{"features":{...}}}}) with the class names, so {@code datasets} and pyarrow users see a
 * {@code ClassLabel}.
 */
public final class DatasetLayout {
    /** Image column (struct). */
    public static final String IMAGE = "image";
    /** Encoded-bytes field of the image struct. */
    public static final String BYTES = "bytes";
    /** Source path / key field of the image struct. */
    public static final String PATH = "path";
    /** Label column; -1 = unknown. */
    public static final String LABEL = "label";
    /** Sidecar file name, inside the split folder. */
    public static final String INFO_FILE = "_dataset_info.json";
    /** Rejects folder name, inside the split folder. */
    public static final String REJECTS_DIR = "_rejects";
    /** Parquet footer key Hugging Face datasets reads features from. */
    public static final String HF_METADATA_KEY = "huggingface";
    /** Unknown label value (Hugging Face ClassLabel convention). */
    public static final long UNKNOWN_LABEL = -1L;

    private static final Pattern SHARD =
            Pattern.compile("(.+)-(\\d{5})-of-(\\d{5})(-[0-9a-f]+)?\\.parquet");

    /** Parquet schema of data shards, as pyarrow writes an HF Image + ClassLabel table. */
    public static final MessageType SHARD_SCHEMA =
            Types.buildMessage()
                    .optionalGroup()
                    .optional(PrimitiveTypeName.BINARY)
                    .named(BYTES)
                    .optional(PrimitiveTypeName.BINARY)
                    .as(LogicalTypeAnnotation.stringType())
                    .named(PATH)
                    .named(IMAGE)
                    .optional(PrimitiveTypeName.INT64)
                    .named(LABEL)
                    .named("schema");

    /** Parquet schema of {@code _rejects/} files. */
    public static final MessageType REJECTS_SCHEMA =
            Types.buildMessage()
                    .optional(PrimitiveTypeName.BINARY)
                    .as(LogicalTypeAnnotation.stringType())
                    .named("path")
                    .required(PrimitiveTypeName.BINARY)
                    .as(LogicalTypeAnnotation.stringType())
                    .named("reason")
                    .required(PrimitiveTypeName.INT64)
                    .named("size")
                    .optional(PrimitiveTypeName.BINARY)
                    .as(LogicalTypeAnnotation.stringType())
                    .named("detail")
                    .named("rejects");

    private DatasetLayout() {}

    /**
     * The key that orders rows: shards are assigned by its hash and rows sorted by it within a
     * shard. It starts with a 64-bit hash of the unit's sort key (ImageFolder relative path,
     * WebDataset {@code tar/key}, Parquet row number), so a shard's rows, and therefore every row
     * group, are a deterministic pseudo-random sample of the classes instead of one class after
     * another; the loader's block-level shuffle relies on this ({@code docs/data.md} §5).
     */
    public static String rowOrderKey(String sortKey) {
        long h = 0xcbf29ce484222325L; // FNV-1a 64 over UTF-8, then a SplitMix64 finaliser
        for (byte b : sortKey.getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
            h = (h ^ (b & 0xff)) * 0x100000001b3L;
        }
        h = (h ^ (h >>> 30)) * 0xbf58476d1ce4e5b9L;
        h = (h ^ (h >>> 27)) * 0x94d049bb133111ebL;
        h ^= h >>> 31;
        return String.format(Locale.ROOT, "%016x", h) + "/" + sortKey;
    }

    /** {@code train-00003-of-00032.parquet}. */
    public static String shardName(String split, int index, int count) {
        return String.format(Locale.ROOT, "%s-%05d-of-%05d.parquet", split, index, count);
    }

    /** {@code rejects-00003-of-00032.parquet}. */
    public static String rejectsName(int index, int count) {
        return String.format(Locale.ROOT, "rejects-%05d-of-%05d.parquet", index, count);
    }

    /** Whether a file name looks like a shard ({@code <split>-NNNNN-of-NNNNN[-hash].parquet}). */
    public static boolean isShardName(String name) {
        Matcher m = SHARD.matcher(name);
        return m.matches();
    }

    /**
     * The {@code huggingface} footer value: {@code {"info":{"features":{"image":{"_type":"Image"},
     * "label":{"names":[...],"_type":"ClassLabel"}}}}}, or a plain int64 {@code Value} label when
     * there are no class names.
     *
     * @param classNames names indexed by label id; empty or null when unknown
     */
    public static String huggingFaceMetadata(List<String> classNames) {
        ObjectMapper om = new ObjectMapper();
        ObjectNode root = om.createObjectNode();
        ObjectNode features = root.putObject("info").putObject("features");
        features.putObject(IMAGE).put("_type", "Image");
        ObjectNode label = features.putObject(LABEL);
        if (classNames != null && !classNames.isEmpty()) {
            ArrayNode names = label.putArray("names");
            classNames.forEach(names::add);
            label.put("_type", "ClassLabel");
        } else {
            label.put("dtype", "int64");
            label.put("_type", "Value");
        }
        return root.toString();
    }
}
