package dev.rq.jobs.eval;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * The per-image table of {@code rq eval} ({@code <output>/images/} or {@code <output>/generated/}
 * and {@code <output>/reference/}), one Parquet row per image. Columns a run does not compute are
 * null (PSNR/SSIM/codes/reconstruction features only for reconstructions, LPIPS only with LPIPS
 * weights, features only with Inception weights, logits only for generated images).
 *
 * <table>
 *   <caption>columns</caption>
 *   <tr><td>{@code index}</td><td>bigint</td><td>position of the image in the evaluation order (dataset order: split, shard, row; or class, sample)</td></tr>
 *   <tr><td>{@code split}</td><td>string</td><td>dataset split, or {@code sampled}</td></tr>
 *   <tr><td>{@code id}</td><td>string</td><td>the image's key ({@code image.path}, {@code <shard>:<row>} or {@code class-<c>/<i>})</td></tr>
 *   <tr><td>{@code label}</td><td>bigint</td><td>class id, −1 unknown</td></tr>
 *   <tr><td>{@code source_shard}, {@code source_row}</td><td>string, bigint</td><td>where the image was read</td></tr>
 *   <tr><td>{@code psnr}</td><td>double</td><td>dB, {@link dev.rq.model.metrics.Psnr}</td></tr>
 *   <tr><td>{@code ssim}</td><td>double</td><td>{@link dev.rq.model.metrics.Ssim}</td></tr>
 *   <tr><td>{@code lpips}</td><td>double</td><td>LPIPS distance (VGG16)</td></tr>
 *   <tr><td>{@code codes}</td><td>array&lt;int&gt;</td><td>h·w·D codes, index {@code (h*W + w)*D + d}</td></tr>
 *   <tr><td>{@code features}</td><td>binary</td><td>Inception pool features of the image, 2048 float32 little-endian</td></tr>
 *   <tr><td>{@code recon_features}</td><td>binary</td><td>the same for its reconstruction</td></tr>
 *   <tr><td>{@code logits}</td><td>binary</td><td>Inception 1008-way logits, float32 little-endian</td></tr>
 * </table>
 */
public final class EvalTable {

    public static final String INDEX = "index";
    public static final String SPLIT = "split";
    public static final String ID = "id";
    public static final String LABEL = "label";
    public static final String SOURCE_SHARD = "source_shard";
    public static final String SOURCE_ROW = "source_row";
    public static final String PSNR = "psnr";
    public static final String SSIM = "ssim";
    public static final String LPIPS = "lpips";
    public static final String CODES = "codes";
    public static final String FEATURES = "features";
    public static final String RECON_FEATURES = "recon_features";
    public static final String LOGITS = "logits";

    /** The columns, in row order. */
    public static final StructType SCHEMA = new StructType(List.of(
            field(INDEX, DataTypes.LongType, false),
            field(SPLIT, DataTypes.StringType, false),
            field(ID, DataTypes.StringType, false),
            field(LABEL, DataTypes.LongType, false),
            field(SOURCE_SHARD, DataTypes.StringType, true),
            field(SOURCE_ROW, DataTypes.LongType, true),
            field(PSNR, DataTypes.DoubleType, true),
            field(SSIM, DataTypes.DoubleType, true),
            field(LPIPS, DataTypes.DoubleType, true),
            field(CODES, DataTypes.createArrayType(DataTypes.IntegerType, false), true),
            field(FEATURES, DataTypes.BinaryType, true),
            field(RECON_FEATURES, DataTypes.BinaryType, true),
            field(LOGITS, DataTypes.BinaryType, true)).toArray(StructField[]::new));

    private EvalTable() {}

    private static StructField field(String name, org.apache.spark.sql.types.DataType type, boolean nullable) {
        return DataTypes.createStructField(name, type, nullable);
    }

    /** @return {@code len} floats from {@code a[off..]} as little-endian float32 bytes (null when {@code a} is) */
    public static byte[] floatBytes(float[] a, int off, int len) {
        if (a == null) {
            return null;
        }
        ByteBuffer bb = ByteBuffer.allocate(4 * len).order(ByteOrder.LITTLE_ENDIAN);
        bb.asFloatBuffer().put(a, off, len);
        return bb.array();
    }

    /** @return the floats of a little-endian float32 column value */
    public static float[] floats(byte[] b) {
        float[] f = new float[b.length / 4];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
        return f;
    }
}
