package dev.rq.jobs.eval;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.rq.tables.CodeUsage;
import dev.rq.tables.TokenManifest;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code summary.json} of an {@code rq eval} output, written last (its presence marks a complete
 * output). Keys are snake_case; absent metrics are omitted and {@code notes} says why.
 *
 * @param format {@value #FORMAT}
 * @param formatVersion {@value #VERSION}
 * @param mode {@code reconstruction} or {@code generated}
 * @param inputs what was evaluated
 * @param images images evaluated (generated images in {@code generated} mode)
 * @param psnr per-image PSNR in dB (reconstruction)
 * @param ssim per-image SSIM (reconstruction)
 * @param lpips per-image LPIPS (reconstruction, with LPIPS weights)
 * @param rfid FID between the originals and their reconstructions (with Inception weights)
 * @param fid FID between the generated images and the reference (generated mode)
 * @param inceptionScore Inception Score of the generated images
 * @param codebook usage per depth (reconstruction)
 * @param networks the pretrained networks used, with SHA-256s
 * @param protocol how the numbers were computed, in words
 * @param notes what was not computed, and why
 * @param job how the job ran
 * @param tables the per-image Parquet tables by name ({@code images}, {@code generated}, {@code
 *     reference}) and exactly their files, paths relative to the output root: readers read these
 * @param stats feature statistics files by name ({@code original}, {@code reconstruction}, {@code
 *     generated}, {@code reference}), paths relative to the output root
 * @param createdBy application and library versions
 * @param createdAt ISO-8601 UTC
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonIgnoreProperties(ignoreUnknown = true)
public record EvalSummary(String format, int formatVersion, String mode, Inputs inputs, long images,
        FeatureStats.Scalar psnr, FeatureStats.Scalar ssim, FeatureStats.Scalar lpips, Double rfid, Double fid,
        Score inceptionScore, List<Depth> codebook, Networks networks, List<String> protocol, List<String> notes,
        Job job, Map<String, List<TokenManifest.DataFile>> tables, Map<String, String> stats,
        Map<String, String> createdBy, String createdAt) {

    /** Format name. */
    public static final String FORMAT = "rq-eval";
    /** Layout version; readers reject others. */
    public static final int VERSION = 1;
    /** File name at the output root. */
    public static final String FILE = "summary.json";

    static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * What was evaluated (unused fields null).
     *
     * @param checkpoint RQ-VAE checkpoint URI
     * @param checkpointSha256 SHA-256 of its {@code model.safetensors}
     * @param step its training step
     * @param data dataset URI
     * @param split dataset split
     * @param resolution side the images were transformed to
     * @param generated {@code rq sample} output or dataset of generated images
     * @param reference reference statistics (.npz) or dataset
     * @param referenceImages images of a reference dataset
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Inputs(String checkpoint, String checkpointSha256, Long step, String data, String split,
            Integer resolution, String generated, String reference, Long referenceImages) {}

    /** Inception Score: mean and standard deviation over {@code parts} parts. */
    public record Score(double mean, double std, int parts) {}

    /** Codebook usage of one depth: codes used of K, and the usage perplexity. */
    public record Depth(int depth, int used, int size, double perplexity, double topShare) {}

    /** Pretrained networks: URI and SHA-256 of each file (null when not used). */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Networks(String inceptionWeights, String inceptionSha256, String lpipsWeights,
            String lpipsSha256) {}

    /** How the job ran. */
    public record Job(String master, int tasks, int batchSize, int threads, double seconds, double imagesPerSecond) {}

    /** @return per-depth usage rows of {@code u} */
    public static List<Depth> depths(CodeUsage u) {
        List<Depth> out = new ArrayList<>();
        for (int d = 0; d < u.depth(); d++) {
            out.add(new Depth(d, u.used(d), u.counts()[d].length, u.perplexity(d), u.topShare(d)));
        }
        return out;
    }

    /** @return the JSON text */
    public byte[] toJson() throws IOException {
        return JSON.writeValueAsBytes(this);
    }

    /** Reads a summary, checking its format and version. */
    public static EvalSummary read(InputStream in, String name) throws IOException {
        EvalSummary s = JSON.readValue(in, EvalSummary.class);
        if (!FORMAT.equals(s.format()) || s.formatVersion() != VERSION) {
            throw new IOException(name + " is not an rq eval summary of version " + VERSION + " (format "
                    + s.format() + ", version " + s.formatVersion() + ")");
        }
        return s;
    }
}
