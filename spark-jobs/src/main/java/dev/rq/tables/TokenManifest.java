package dev.rq.tables;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.rq.io.HadoopDir;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/**
 * {@code _tokens_manifest.json}: the provenance of a token table, written by the driver after the
 * data is committed and the row counts are checked. Its presence marks a complete table. JSON keys
 * are snake_case ({@code format_version}, {@code code_shape}, …); see {@code docs/tokens.md}.
 *
 * @param format always {@value TokenTableSchema#FORMAT}
 * @param formatVersion {@value TokenTableSchema#SCHEMA_VERSION}
 * @param codeShape [H, W, D]
 * @param codeLayout {@value TokenTableSchema#CODE_LAYOUT}: {@code codes[(h*W + w)*D + d]}
 * @param codeDtype int16 or int32 (element type of {@code codes})
 * @param codebookSize K (the largest, when codebooks differ per depth)
 * @param codebookSizes K per depth
 * @param numQuantizers D
 * @param sharedCodebook one codebook for every depth
 * @param tokenizer the RQ-VAE checkpoint
 * @param preprocess the exact image transform
 * @param variants variant id → meaning
 * @param latents the latent column, or null when absent
 * @param source the dataset
 * @param labelNames class names by label id (from the dataset sidecar)
 * @param splits rows per split
 * @param createdBy application and library versions
 * @param createdAt ISO-8601 UTC
 * @param job how the job ran (batch size, master, timing)
 * @param files every data file of the table (readers read exactly these); null in tables written
 *     before the list existed, whose readers take every Parquet file under the root
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonIgnoreProperties(ignoreUnknown = true)
public record TokenManifest(
        String format,
        int formatVersion,
        List<Integer> codeShape,
        String codeLayout,
        String codeDtype,
        int codebookSize,
        List<Integer> codebookSizes,
        int numQuantizers,
        boolean sharedCodebook,
        Tokenizer tokenizer,
        Preprocess preprocess,
        Map<String, String> variants,
        Latents latents,
        Source source,
        List<String> labelNames,
        Map<String, SplitCounts> splits,
        Map<String, String> createdBy,
        String createdAt,
        Job job,
        List<DataFile> files) {

    private static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET);

    /**
     * The tokenizer checkpoint.
     *
     * @param checkpointUri where it was loaded from
     * @param checkpointSha256 SHA-256 of its {@code model.safetensors} (from its verified manifest)
     * @param codebookSha256 SHA-256 of the codebook weights (see {@code codebookHashOf})
     * @param codebookHashOf what exactly was hashed
     * @param kind checkpoint kind (rqvae)
     * @param trainStep optimizer step of the checkpoint
     * @param configHash SHA-256 of the checkpoint's canonical config JSON
     * @param config the full model config ({@code ddconfig} + {@code hparams})
     * @param precision compute precision of the encoder, {@code fp32} or {@code bf16} (absent in
     *     tables written before it was recorded: fp32)
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Tokenizer(String checkpointUri, String checkpointSha256, String codebookSha256,
            String codebookHashOf, String kind, long trainStep, String configHash, JsonNode config,
            String precision) {

        /** The tokenizer of a table written in float32 (precision recorded as {@code fp32}). */
        public Tokenizer(String checkpointUri, String checkpointSha256, String codebookSha256, String codebookHashOf,
                String kind, long trainStep, String configHash, JsonNode config) {
            this(checkpointUri, checkpointSha256, codebookSha256, codebookHashOf, kind, trainStep, configHash, config,
                    "fp32");
        }
    }

    /**
     * Image preprocessing, exactly.
     *
     * @param decoder image decoding (library, color handling)
     * @param color channel order of the tensor
     * @param resize resize rule
     * @param filter resampling filter
     * @param size S (output side)
     * @param crop crop rule
     * @param valueRange [min, max] of the model input
     * @param normalize float formula from 8-bit values
     * @param layout tensor layout fed to the model
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Preprocess(String decoder, String color, String resize, String filter, int size,
            String crop, List<Double> valueRange, String normalize, String layout) {}

    /**
     * The {@code latents} column.
     *
     * @param column column name
     * @param dtype element type (float16)
     * @param shape [h, w, C]
     * @param byteOrder little-endian
     * @param meaning what the values are
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Latents(String column, String dtype, List<Integer> shape, String byteOrder, String meaning) {}

    /**
     * The dataset.
     *
     * @param uri dataset root URI
     * @param format dataset format name (rq-image-dataset)
     * @param imageColumn image column
     * @param labelColumn label column
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Source(String uri, String format, String imageColumn, String labelColumn) {}

    /**
     * Counts of one split.
     *
     * @param images images in the source split
     * @param rows rows in the table ({@code images × variants})
     * @param sourceShards shard files (relative to the dataset root) with their row counts
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record SplitCounts(long images, long rows, Map<String, Long> sourceShards) {}

    /**
     * How the job ran.
     *
     * @param batchSize images per model call
     * @param master Spark master
     * @param tasks Spark tasks
     * @param intraOpThreads libtorch intra-op threads per model call (tokenize: per task, tasks run concurrently)
     * @param seconds wall time of the encode-and-write stage
     * @param imagesPerSecond rows (encoded views) per second in that stage
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Job(int batchSize, String master, int tasks, int intraOpThreads, double seconds,
            double imagesPerSecond) {}

    /** A manifest without a file list (set by {@link #withFiles} when the table is committed). */
    public TokenManifest(String format, int formatVersion, List<Integer> codeShape, String codeLayout,
            String codeDtype, int codebookSize, List<Integer> codebookSizes, int numQuantizers, boolean sharedCodebook,
            Tokenizer tokenizer, Preprocess preprocess, Map<String, String> variants, Latents latents, Source source,
            List<String> labelNames, Map<String, SplitCounts> splits, Map<String, String> createdBy, String createdAt,
            Job job) {
        this(format, formatVersion, codeShape, codeLayout, codeDtype, codebookSize, codebookSizes, numQuantizers,
                sharedCodebook, tokenizer, preprocess, variants, latents, source, labelNames, splits, createdBy,
                createdAt, job, null);
    }

    /**
     * One Parquet file of the table.
     *
     * @param path relative to the table root ({@code split=train/part-00000.zstd.parquet})
     * @param split the split its rows belong to
     * @param rows rows in the file
     * @param bytes file size
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record DataFile(String path, String split, long rows, long bytes) implements java.io.Serializable {}

    /** @return D·H·W, the length of every {@code codes} array */
    public int codesLength() {
        return codeShape.get(0) * codeShape.get(1) * codeShape.get(2);
    }

    /** @return the {@code codes} element type */
    public TokenTableSchema.CodeType codeType() {
        return TokenTableSchema.CodeType.ofManifestName(codeDtype);
    }

    /** @return whether the table has a {@code latents} column */
    public boolean hasLatents() {
        return latents != null;
    }

    /** @return pretty JSON */
    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** @return compact JSON (for field metadata) */
    public String toCompactJson() {
        try {
            return JSON.copy().disable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(this);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Parses a manifest and checks its format name and version.
     *
     * @throws IOException when it is not a token table manifest of a supported version
     */
    public static TokenManifest fromJson(String json) throws IOException {
        JsonNode tree = JSON.readTree(json);
        String format = tree.path("format").asText(null);
        if (!TokenTableSchema.FORMAT.equals(format)) {
            throw new IOException("not a token table manifest: format is " + format + ", expected "
                    + TokenTableSchema.FORMAT);
        }
        int version = tree.path("format_version").asInt(-1);
        if (version != TokenTableSchema.SCHEMA_VERSION) {
            throw new IOException("token table format version " + version + " is not supported (this build reads "
                    + TokenTableSchema.SCHEMA_VERSION + ")");
        }
        TokenManifest m = JSON.treeToValue(tree, TokenManifest.class);
        if (m.codeShape() == null || m.codeShape().size() != 3 || m.codeDtype() == null || m.splits() == null) {
            throw new IOException("token table manifest lacks code_shape, code_dtype or splits");
        }
        return m;
    }

    /**
     * Reads {@code <root>/_tokens_manifest.json}.
     *
     * @throws FileNotFoundException when the table has no manifest (incomplete or not a token table)
     */
    public static TokenManifest read(String root, Configuration conf) throws IOException {
        HadoopDir dir = new HadoopDir(root, conf);
        if (!dir.exists(TokenTableSchema.MANIFEST_FILE)) {
            throw new FileNotFoundException(root + " has no " + TokenTableSchema.MANIFEST_FILE
                    + ": not a complete token table (job not finished, failed, or not a token table)");
        }
        try (InputStream in = dir.open(TokenTableSchema.MANIFEST_FILE)) {
            return fromJson(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
    }

    /** Writes {@code <root>/_tokens_manifest.json} in one piece (see {@link HadoopDir#createFile}). */
    public void write(String root, Configuration conf) throws IOException {
        try (OutputStream out = new HadoopDir(root, conf).create(TokenTableSchema.MANIFEST_FILE)) {
            out.write(toJson().getBytes(StandardCharsets.UTF_8));
        }
    }

    /** @return a copy with other split counts, timestamp and job facts */
    public TokenManifest withResults(Map<String, SplitCounts> newSplits, String newCreatedAt, Job newJob) {
        return new TokenManifest(format, formatVersion, codeShape, codeLayout, codeDtype, codebookSize,
                codebookSizes, numQuantizers, sharedCodebook, tokenizer, preprocess, variants, latents, source,
                labelNames, newSplits, createdBy, newCreatedAt, newJob, files);
    }

    /** @return a copy that lists {@code newFiles} as the table's data files */
    public TokenManifest withFiles(List<DataFile> newFiles) {
        return new TokenManifest(format, formatVersion, codeShape, codeLayout, codeDtype, codebookSize,
                codebookSizes, numQuantizers, sharedCodebook, tokenizer, preprocess, variants, latents, source,
                labelNames, splits, createdBy, createdAt, job, newFiles == null ? null : List.copyOf(newFiles));
    }
}
