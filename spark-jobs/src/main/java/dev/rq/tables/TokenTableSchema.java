package dev.rq.tables;

import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.MetadataBuilder;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * The token table layout, version {@value #SCHEMA_VERSION}: the single definition of column names,
 * types and file names (documented in {@code docs/tokens.md}).
 *
 * <pre>
 * &lt;root&gt;/_tokens_manifest.json               provenance, written last (readers require it)
 * &lt;root&gt;/split=&lt;split&gt;/part-*.parquet          one row per (image, variant)
 * </pre>
 *
 * <table>
 *   <caption>columns</caption>
 *   <tr><td>{@code id}</td><td>string, not null</td><td>the image's key: {@code image.path} of the source row, else {@code <shard>:<row>}</td></tr>
 *   <tr><td>{@code label}</td><td>bigint</td><td>class id, -1 = unknown</td></tr>
 *   <tr><td>{@code variant}</td><td>smallint, not null</td><td>{@link Variant} id (0 center, 1 hflip)</td></tr>
 *   <tr><td>{@code codes}</td><td>array&lt;smallint&gt; (array&lt;int&gt; when K &gt; 32767), not null</td><td>H·W·D codes, index {@code (h*W + w)*D + d}</td></tr>
 *   <tr><td>{@code source_shard}</td><td>string, not null</td><td>shard file relative to the dataset root ({@code train/train-00000-of-00004.parquet})</td></tr>
 *   <tr><td>{@code source_row}</td><td>bigint, not null</td><td>row index inside that shard</td></tr>
 *   <tr><td>{@code latents}</td><td>binary (only with --with-latents)</td><td>[h, w, C] float16 little-endian, pre-quantization</td></tr>
 *   <tr><td>{@code split}</td><td>string (partition column)</td><td>dataset split</td></tr>
 * </table>
 */
public final class TokenTableSchema {

    /** Format name in the manifest. */
    public static final String FORMAT = "rq-token-table";
    /** Schema / layout version; readers reject other versions. */
    public static final int SCHEMA_VERSION = 1;
    /** Manifest file at the table root, written after the data is committed. */
    public static final String MANIFEST_FILE = "_tokens_manifest.json";
    /** Key of the provenance JSON in the {@code codes} field metadata (Parquet footer row metadata). */
    public static final String FIELD_METADATA_KEY = "rq_token_table";

    public static final String ID = "id";
    public static final String LABEL = "label";
    public static final String VARIANT = "variant";
    public static final String CODES = "codes";
    public static final String SOURCE_SHARD = "source_shard";
    public static final String SOURCE_ROW = "source_row";
    public static final String LATENTS = "latents";
    /** Partition column (directory {@code split=<name>}). */
    public static final String SPLIT = "split";

    /** Code layout name: flattened row-major (h, w, d). */
    public static final String CODE_LAYOUT = "hwd";
    /** Largest codebook size stored as int16. */
    public static final int MAX_INT16_CODEBOOK = 32767;
    /** Latent element type. */
    public static final String LATENT_DTYPE = "float16";

    private TokenTableSchema() {}

    /** Element type of {@code codes}. */
    public enum CodeType {
        INT16("int16", DataTypes.ShortType),
        INT32("int32", DataTypes.IntegerType);

        /** Name in the manifest ({@code code_dtype}). */
        public final String manifestName;
        /** Spark element type. */
        public final DataType sparkType;

        CodeType(String manifestName, DataType sparkType) {
            this.manifestName = manifestName;
            this.sparkType = sparkType;
        }

        /** int16 when every code fits ({@code K <= 32767}), else int32. */
        public static CodeType forCodebookSize(int maxCodebookSize) {
            return maxCodebookSize <= MAX_INT16_CODEBOOK ? INT16 : INT32;
        }

        /** @return the type named {@code name} in a manifest */
        public static CodeType ofManifestName(String name) {
            for (CodeType t : values()) {
                if (t.manifestName.equals(name)) {
                    return t;
                }
            }
            throw new IllegalArgumentException("unknown code_dtype " + name);
        }
    }

    /**
     * The schema of the rows the tokenize job writes (including the {@code split} partition column,
     * last).
     *
     * @param codeType element type of {@code codes}
     * @param withLatents add the {@code latents} column
     * @param provenanceJson JSON stored in the metadata of {@code codes} under {@link
     *     #FIELD_METADATA_KEY}, or null
     */
    public static StructType schema(CodeType codeType, boolean withLatents, String provenanceJson) {
        Metadata codesMeta = provenanceJson == null ? Metadata.empty()
                : new MetadataBuilder().putString(FIELD_METADATA_KEY, provenanceJson).build();
        List<StructField> f = new ArrayList<>();
        f.add(DataTypes.createStructField(ID, DataTypes.StringType, false));
        f.add(DataTypes.createStructField(LABEL, DataTypes.LongType, true));
        f.add(DataTypes.createStructField(VARIANT, DataTypes.ShortType, false));
        f.add(new StructField(CODES, DataTypes.createArrayType(codeType.sparkType, false), false, codesMeta));
        f.add(DataTypes.createStructField(SOURCE_SHARD, DataTypes.StringType, false));
        f.add(DataTypes.createStructField(SOURCE_ROW, DataTypes.LongType, false));
        if (withLatents) {
            f.add(DataTypes.createStructField(LATENTS, DataTypes.BinaryType, true));
        }
        f.add(DataTypes.createStructField(SPLIT, DataTypes.StringType, false));
        return DataTypes.createStructType(f);
    }

    /**
     * Checks that a schema read back from Parquet has every v1 column with the right type
     * (nullability is not checked: Parquet readers report everything nullable).
     *
     * @throws IllegalStateException naming the first bad column
     */
    public static void check(StructType actual, CodeType codeType, boolean withLatents) {
        StructType expected = schema(codeType, withLatents, null);
        for (StructField e : expected.fields()) {
            int i = indexOf(actual, e.name());
            if (i < 0) {
                throw new IllegalStateException("token table has no column '" + e.name() + "' (schema v"
                        + SCHEMA_VERSION + " needs " + String.join(", ", expected.fieldNames()) + ")");
            }
            DataType a = actual.fields()[i].dataType();
            DataType want = e.dataType();
            boolean ok = a instanceof ArrayType at && want instanceof ArrayType wt
                    ? at.elementType().equals(wt.elementType())
                    : a.equals(want);
            if (!ok) {
                throw new IllegalStateException("token table column '" + e.name() + "' has type "
                        + a.simpleString() + ", schema v" + SCHEMA_VERSION + " says " + want.simpleString());
            }
        }
    }

    private static int indexOf(StructType s, String name) {
        String[] names = s.fieldNames();
        for (int i = 0; i < names.length; i++) {
            if (names[i].equals(name)) {
                return i;
            }
        }
        return -1;
    }
}
