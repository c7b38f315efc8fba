package dev.rq.tables;

import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * The layout of a semantic-ID table written by {@code rq assign-sid} (any Hadoop URI):
 *
 * <pre>
 * &lt;out&gt;/ids/part-*.zstd.parquet       item_id (the input's type), sid array&lt;int&gt;[D], dedup int, sid_text string
 * &lt;out&gt;/reverse/part-*.zstd.parquet   sid array&lt;int&gt;[D], items array&lt;item_id&gt; (index = dedup), count long;
 *                                     sorted by sid
 * &lt;out&gt;/codebooks.safetensors          codebooks.&lt;d&gt; [K_d, C] float32, the code vectors of every level
 * &lt;out&gt;/_rejects/part-*.zstd.parquet  input rows that were not encoded: item_id, embedding, label,
 *                                     _reject_reason, _reject_detail, _source_file
 * &lt;out&gt;/_sid_manifest.json              {@link SidManifest}, written last; it lists every file, and its
 *                                     presence marks a complete table
 * </pre>
 *
 * The table is committed as a {@link dev.rq.io.StagedOutput} (no directory rename; safe on object
 * stores): while an earlier table at the same URI is replaced, the new files carry the commit id in
 * their names and the old ones are removed after the new manifest is written. Readers that must be
 * exact read the files the manifest lists; after a commit the folders hold exactly those.
 *
 * A semantic ID is {@code (sid[0], …, sid[D−1], dedup)}: {@code sid} are the model's codes, {@code
 * dedup} numbers the items sharing one {@code sid} (0, 1, … ordered by item_id when they are
 * assigned together; later items continue after the largest existing number), so every ID is
 * unique. {@code sid_text} spells it as tokens, level letters a, b, c, … and the dedup level last:
 * {@code <a_12><b_200><c_7><d_0>}.
 */
public final class SidTable {

    /** ID table folder. */
    public static final String IDS = "ids";
    /** Reverse table folder. */
    public static final String REVERSE = "reverse";
    /** Rejects folder. */
    public static final String REJECTS = "_rejects";
    /** Exported codebooks. */
    public static final String CODEBOOKS = "codebooks.safetensors";
    /** Manifest, written last. */
    public static final String MANIFEST = "_sid_manifest.json";
    /** {@link SidManifest#format()}. */
    public static final String FORMAT = "rq-semantic-ids";
    /** {@link SidManifest#formatVersion()}. */
    public static final int VERSION = 1;

    /** Item id column (both tables' item values keep the input's id type). */
    public static final String ITEM_ID = "item_id";
    /** Code column: array&lt;int&gt; of length D. */
    public static final String SID = "sid";
    /** Collision number within equal {@code sid}. */
    public static final String DEDUP = "dedup";
    /** Token spelling of the full ID. */
    public static final String SID_TEXT = "sid_text";
    /** Reverse table: the items of one {@code sid}, at index dedup. */
    public static final String ITEMS = "items";
    /** Reverse table: number of items of one {@code sid}. */
    public static final String COUNT = "count";

    private SidTable() {}

    /** @return the ID table schema for an id type */
    public static StructType idSchema(DataType idType) {
        return DataTypes.createStructType(new org.apache.spark.sql.types.StructField[] {
            DataTypes.createStructField(ITEM_ID, idType, false),
            DataTypes.createStructField(SID, DataTypes.createArrayType(DataTypes.IntegerType, false), false),
            DataTypes.createStructField(DEDUP, DataTypes.IntegerType, false),
            DataTypes.createStructField(SID_TEXT, DataTypes.StringType, false)});
    }

    /** @return the letter of level {@code d} in {@code sid_text} (a, b, …; the dedup level follows the last code) */
    public static char levelLetter(int d) {
        if (d < 0 || d > 25) {
            throw new IllegalArgumentException("level " + d + " has no letter (at most 26 levels incl. dedup)");
        }
        return (char) ('a' + d);
    }

    /** @return {@code <a_12><b_200><c_7><d_0>} for codes (12, 200, 7) and dedup 0 */
    public static String text(int[] sid, int dedup) {
        return textPrefix(sid) + dedup + ">";
    }

    /** @return {@code <a_12><b_200><c_7><d_} for codes (12, 200, 7): {@link #text} without the dedup code */
    public static String textPrefix(int[] sid) {
        StringBuilder b = new StringBuilder();
        for (int d = 0; d < sid.length; d++) {
            b.append('<').append(levelLetter(d)).append('_').append(sid[d]).append('>');
        }
        return b.append('<').append(levelLetter(sid.length)).append('_').toString();
    }
}
