package dev.rq.tables;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * {@code _sid_manifest.json} of a semantic-ID table ({@link SidTable}), written after every other
 * file. Keys are snake_case.
 *
 * @param format {@value SidTable#FORMAT}
 * @param formatVersion {@value SidTable#VERSION}
 * @param model the checkpoint the codes come from
 * @param codebooks the exported codebooks
 * @param source the item table and its columns
 * @param counts rows read, encoded, rejected, kept and assigned (read = encoded + rejected)
 * @param collisions how unique the codes are before the dedup level
 * @param statistics codebook usage, reconstruction quality and prefix purity
 * @param files every data file of the table, relative to its root (readers read exactly these)
 * @param existing the ID table this one extends (incremental runs), or null
 * @param createdBy application and versions
 * @param createdAt ISO-8601 UTC
 * @param job how the job ran
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonIgnoreProperties(ignoreUnknown = true)
public record SidManifest(
        String format,
        int formatVersion,
        Model model,
        Codebooks codebooks,
        Source source,
        Counts counts,
        Collisions collisions,
        Statistics statistics,
        Files files,
        String existing,
        Map<String, String> createdBy,
        String createdAt,
        Job job) {

    static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET);

    /**
     * The model.
     *
     * @param checkpoint checkpoint URI
     * @param kind {@code sid-rqvae} or {@code sid-rqkmeans}
     * @param method {@code rqvae} or {@code rq-kmeans}
     * @param modelSha256 SHA-256 of its {@code model.safetensors} (from its verified manifest)
     * @param step training steps
     * @param configHash SHA-256 of its resolved config
     */
    public record Model(String checkpoint, String kind, String method, String modelSha256, long step,
            String configHash) {}

    /**
     * The exported codebooks.
     *
     * @param file {@value SidTable#CODEBOOKS}
     * @param sha256 SHA-256 of that file
     * @param shapes [K_d, C] per level
     * @param depth D
     */
    public record Codebooks(String file, String sha256, List<List<Integer>> shapes, int depth) {}

    /**
     * The input.
     *
     * @param uri item table
     * @param idColumn id column
     * @param idType Spark SQL type of the ids
     * @param embeddingColumn embedding column
     * @param labelColumn label column ("" for none)
     * @param dim embedding dimension
     */
    public record Source(String uri, String idColumn, String idType, String embeddingColumn, String labelColumn,
            int dim) {}

    /**
     * Row accounting.
     *
     * @param read input rows
     * @param encoded input rows encoded
     * @param rejected input rows written to {@code _rejects/}
     * @param rejectedByReason rejected rows per reason
     * @param existingKept items of the existing table (all kept with their IDs)
     * @param existingReencoded input items already in the existing table (their ID is kept)
     * @param existingChanged of those, items whose codes now differ from their kept {@code sid}
     * @param assigned new items given an ID in this run
     * @param items rows of the ID table (= existingKept + assigned)
     */
    public record Counts(long read, long encoded, long rejected, Map<String, Long> rejectedByReason,
            long existingKept, long existingReencoded, long existingChanged, long assigned, long items) {}

    /**
     * Collisions of {@code sid} (before the dedup level), over the whole ID table.
     *
     * @param uniqueSids distinct {@code sid} values
     * @param uniqueSidRatio distinct / items
     * @param collisionRate fraction of items whose {@code sid} is shared with another item
     * @param largestGroup most items sharing one {@code sid} (max dedup + 1)
     */
    public record Collisions(long uniqueSids, double uniqueSidRatio, double collisionRate, long largestGroup) {}

    /**
     * Quality statistics.
     *
     * @param usedFraction per level, fraction of the K codes used by at least one item
     * @param perplexity per level, exp(entropy) of the code histogram over the ID table
     * @param reconstructionMse mean over the reconstructed items of the mean squared error of the reconstruction
     * @param cosineSimilarity mean over the reconstructed items of cos(x, x̂)
     * @param reconstructedItems items reconstructed for these two means (one in {@code --recon-sample}
     *     of the items encoded in this run, chosen by a hash of the id)
     * @param prefixPurity per prefix length k = 1..D, the fraction of labelled items whose label is the
     *     most common label of the items sharing their first k codes (null without a label column)
     */
    public record Statistics(List<Double> usedFraction, List<Double> perplexity, double reconstructionMse,
            double cosineSimilarity, long reconstructedItems, List<Double> prefixPurity) {}

    /**
     * The files of the table.
     *
     * @param ids the ID table's Parquet files
     * @param reverse the reverse table's Parquet files
     * @param rejects the rejects' Parquet files (empty when nothing was rejected)
     */
    public record Files(List<TableFiles.DataFile> ids, List<TableFiles.DataFile> reverse,
            List<TableFiles.DataFile> rejects) {

        /** @return every file, relative to the table root */
        public List<String> all() {
            List<String> out = new java.util.ArrayList<>();
            for (List<TableFiles.DataFile> l : List.of(ids, reverse, rejects)) {
                l.forEach(f -> out.add(f.path()));
            }
            return out;
        }
    }

    /** @return the absolute URIs of the ID table's files under {@code root} */
    public List<String> idFiles(Path root) {
        return files.ids().stream().map(f -> new Path(root, f.path()).toString()).toList();
    }

    /**
     * How the job ran.
     *
     * @param master Spark master
     * @param batchSize items per model call
     * @param seconds wall time of the job (session start excluded)
     * @param encodeSeconds wall time of the encode pass
     * @param itemsPerSecond read rows / seconds
     * @param precision the encoder's compute precision ({@code fp32}, {@code bf16}; null in tables
     *     written before it was recorded)
     * @param phases seconds per phase, in job order (null in tables written before it was recorded):
     *     the driver's passes (wall time) and, prefixed {@code task.}, the encode tasks' time summed
     *     over tasks (see {@code AssignSidJob})
     */
    public record Job(String master, int batchSize, double seconds, double encodeSeconds, double itemsPerSecond,
            String precision, java.util.Map<String, Double> phases) {}

    /** @return the manifest of the semantic-ID table at {@code dir} */
    public static SidManifest read(Path dir, Configuration conf) throws IOException {
        Path p = new Path(dir, SidTable.MANIFEST);
        FileSystem fs = p.getFileSystem(conf);
        if (!fs.exists(p)) {
            throw new FileNotFoundException(dir + " has no " + SidTable.MANIFEST
                    + ": not a complete semantic-ID table (rq assign-sid output)");
        }
        try (InputStream in = fs.open(p)) {
            SidManifest m = JSON.readValue(in, SidManifest.class);
            if (!SidTable.FORMAT.equals(m.format()) || m.formatVersion() != SidTable.VERSION) {
                throw new IOException(p + ": format " + m.format() + " v" + m.formatVersion() + " is not "
                        + SidTable.FORMAT + " v" + SidTable.VERSION);
            }
            return m;
        }
    }

    /** @return pretty JSON */
    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
