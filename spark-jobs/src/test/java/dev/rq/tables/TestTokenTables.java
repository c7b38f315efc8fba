package dev.rq.tables;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.api.WriteSupport;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.hadoop.util.HadoopOutputFile;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.io.api.RecordConsumer;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Types;

/**
 * Synthetic token tables for loader tests, written with parquet-hadoop in the layout and Parquet
 * schema Spark writes for {@link TokenTableSchema} v1 (int16 codes), with a manifest: random codes
 * below {@code K} and random float16 latents of moderate magnitude.
 */
public final class TestTokenTables {

    private TestTokenTables() {}

    /** Writes row {@code i} straight to the record consumer (fast: no record objects). */
    private static final class RowSupport extends WriteSupport<Integer> {
        private final MessageType schema;
        private final int per;
        private final int k;
        private final int latentBytes;
        private final SplittableRandom rnd;
        private RecordConsumer out;

        RowSupport(MessageType schema, int per, int k, int latentBytes, SplittableRandom rnd) {
            this.schema = schema;
            this.per = per;
            this.k = k;
            this.latentBytes = latentBytes;
            this.rnd = rnd;
        }

        @Override
        public WriteContext init(Configuration configuration) {
            return new WriteContext(schema, java.util.Map.of());
        }

        @Override
        public void prepareForWrite(RecordConsumer recordConsumer) {
            out = recordConsumer;
        }

        private void field(String name, int index, Runnable value) {
            out.startField(name, index);
            value.run();
            out.endField(name, index);
        }

        @Override
        public void write(Integer row) {
            out.startMessage();
            field(TokenTableSchema.ID, 0, () -> out.addBinary(Binary.fromString("img-" + row)));
            field(TokenTableSchema.LABEL, 1, () -> out.addLong(row % 10));
            field(TokenTableSchema.VARIANT, 2, () -> out.addInteger(0));
            field(TokenTableSchema.CODES, 3, () -> {
                out.startGroup();
                field("list", 0, () -> {
                    for (int j = 0; j < per; j++) {
                        out.startGroup();
                        field("element", 0, () -> out.addInteger(rnd.nextInt(k)));
                        out.endGroup();
                    }
                });
                out.endGroup();
            });
            field(TokenTableSchema.SOURCE_SHARD, 4, () -> out.addBinary(
                    Binary.fromString("train/train-00000-of-00001.parquet")));
            field(TokenTableSchema.SOURCE_ROW, 5, () -> out.addLong(row));
            if (latentBytes > 0) {
                byte[] half = new byte[latentBytes];
                for (int j = 0; j < latentBytes; j += 2) {
                    // sign, exponent 13..16 (|x| in [2^-2, 2^2)), random mantissa
                    int h = (rnd.nextInt(2) << 15) | ((13 + rnd.nextInt(4)) << 10) | rnd.nextInt(1024);
                    half[j] = (byte) h;
                    half[j + 1] = (byte) (h >>> 8);
                }
                field(TokenTableSchema.LATENTS, 6, () -> out.addBinary(Binary.fromConstantByteArray(half)));
            }
            out.endMessage();
        }
    }

    private static final class Builder extends ParquetWriter.Builder<Integer, Builder> {
        private final RowSupport support;

        Builder(org.apache.parquet.io.OutputFile file, RowSupport support) {
            super(file);
            this.support = support;
        }

        @Override
        protected Builder self() {
            return this;
        }

        @Override
        protected WriteSupport<Integer> getWriteSupport(Configuration conf) {
            return support;
        }
    }

    /** The Parquet schema Spark writes for a v1 table with int16 codes (partition column excluded). */
    public static MessageType schema(boolean latents) {
        Types.MessageTypeBuilder b = Types.buildMessage();
        b.required(PrimitiveTypeName.BINARY).as(LogicalTypeAnnotation.stringType()).named(TokenTableSchema.ID);
        b.optional(PrimitiveTypeName.INT64).named(TokenTableSchema.LABEL);
        b.required(PrimitiveTypeName.INT32).as(LogicalTypeAnnotation.intType(16, true)).named(TokenTableSchema.VARIANT);
        b.requiredList().requiredElement(PrimitiveTypeName.INT32).as(LogicalTypeAnnotation.intType(16, true))
                .named(TokenTableSchema.CODES);
        b.required(PrimitiveTypeName.BINARY).as(LogicalTypeAnnotation.stringType()).named(TokenTableSchema.SOURCE_SHARD);
        b.required(PrimitiveTypeName.INT64).named(TokenTableSchema.SOURCE_ROW);
        if (latents) {
            b.optional(PrimitiveTypeName.BINARY).named(TokenTableSchema.LATENTS);
        }
        return b.named("spark_schema");
    }

    /**
     * Writes split {@code split} into the table at {@code root} (adding it to the manifest if one
     * exists).
     *
     * @param rows rows of the split
     * @param codeShape [H, W, D]
     * @param k codebook size (codes are below it)
     * @param latentShape [h, w, C], or null for a table without latents
     * @param codebookSha the tokenizer's codebook SHA-256 to record
     * @param rowGroupBytes Parquet row-group size
     * @param files part files
     * @param seed content seed
     */
    public static void write(Path root, String split, int rows, int[] codeShape, int k, int[] latentShape,
            String codebookSha, long rowGroupBytes, int files, long seed) throws IOException {
        Path dir = root.resolve(TokenTableSchema.SPLIT + "=" + split);
        Files.createDirectories(dir);
        boolean latents = latentShape != null;
        MessageType schema = schema(latents);
        int per = codeShape[0] * codeShape[1] * codeShape[2];
        int latentBytes = latents ? 2 * latentShape[0] * latentShape[1] * latentShape[2] : 0;
        SplittableRandom rnd = new SplittableRandom(seed);
        int next = 0;
        for (int i = 0; i < files; i++) {
            int end = (int) ((long) rows * (i + 1) / files);
            Path file = dir.resolve(String.format(Locale.ROOT, "part-%05d-test.zstd.parquet", i));
            try (ParquetWriter<Integer> w = new Builder(HadoopOutputFile.fromPath(
                            new org.apache.hadoop.fs.Path(file.toUri()), new Configuration()),
                            new RowSupport(schema, per, k, latentBytes, rnd))
                    .withWriteMode(ParquetFileWriter.Mode.OVERWRITE)
                    .withCompressionCodec(CompressionCodecName.SNAPPY).withRowGroupSize(rowGroupBytes)
                    .withMinRowCountForPageSizeCheck(1).build()) {
                for (; next < end; next++) {
                    w.write(next);
                }
            }
        }
        ObjectMapper om = new ObjectMapper();
        ObjectNode m;
        try {
            m = (ObjectNode) om.readTree(TokenManifest.read(root.toString(), new Configuration()).toJson());
        } catch (FileNotFoundException e) {
            m = om.createObjectNode();
            m.put("format", TokenTableSchema.FORMAT);
            m.put("format_version", TokenTableSchema.SCHEMA_VERSION);
            m.putArray("code_shape").add(codeShape[0]).add(codeShape[1]).add(codeShape[2]);
            m.put("code_layout", TokenTableSchema.CODE_LAYOUT);
            m.put("code_dtype", "int16");
            m.put("codebook_size", k);
            m.put("num_quantizers", codeShape[2]);
            m.put("shared_codebook", true);
            m.putObject("tokenizer").put("codebook_sha256", codebookSha).put("kind", "rqvae");
            m.putObject("variants").put("0", "center");
            if (latents) {
                ObjectNode l = m.putObject("latents");
                l.put("column", TokenTableSchema.LATENTS).put("dtype", "float16").put("byte_order", "little");
                l.putArray("shape").add(latentShape[0]).add(latentShape[1]).add(latentShape[2]);
            }
            m.putObject("splits");
        }
        ((ObjectNode) m.get("splits")).putObject(split).put("images", rows).put("rows", rows);
        TokenManifest.fromJson(m.toString()).write(root.toString(), new Configuration());
    }
}
