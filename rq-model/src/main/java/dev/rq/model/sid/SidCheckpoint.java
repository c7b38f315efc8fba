package dev.rq.model.sid;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.rq.model.checkpoint.CheckpointDir;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.checkpoint.Manifest;
import dev.rq.model.config.SidRunConfig;
import dev.rq.model.safetensors.TensorData;
import java.io.IOException;
import java.util.Map;

/**
 * Saving and loading semantic-ID checkpoints: kind {@value #RQVAE} ({@link SidModel}: weights,
 * codebooks and their usage buffers) or {@value #RQ_KMEANS} ({@link RqKMeans}: the centroids),
 * with the run configuration in the manifest.
 */
public final class SidCheckpoint {

    /** Manifest kind of an RQ-VAE over embeddings. */
    public static final String RQVAE = "sid-rqvae";

    /** Manifest kind of residual k-means codebooks. */
    public static final String RQ_KMEANS = "sid-rqkmeans";

    private SidCheckpoint() {}

    /** @return the checkpoint kind of a run config's method */
    public static String kind(SidRunConfig config) {
        return config.model().isKMeans() ? RQ_KMEANS : RQVAE;
    }

    /**
     * Writes a checkpoint.
     *
     * @param model the state dict of the {@link SidModel} or {@link RqKMeans}
     * @param optimizer optimizer moments, or null
     * @param trainerState trainer state (RNG, cursor, k-means progress), or null
     */
    public static Manifest save(CheckpointDir dir, Map<String, ? extends TensorData> model, SidRunConfig config,
            long step, Map<String, ? extends TensorData> optimizer, JsonNode trainerState) throws IOException {
        return Checkpoints.write(dir, new Checkpoints.Contents(kind(config), config, step, config.train().seed(), model,
                optimizer, trainerState));
    }

    /**
     * A loaded coder with its run configuration and the verified checkpoint.
     *
     * @param coder the {@link SidModel} or {@link RqKMeans}
     */
    public record Loaded(SidCoder coder, SidRunConfig config, Checkpoints.Loaded checkpoint) {}

    /** Reads, verifies and instantiates a semantic-ID checkpoint of either kind. */
    public static Loaded load(CheckpointDir dir, NDManager manager) throws IOException {
        Checkpoints.Loaded c = Checkpoints.read(dir);
        String kind = c.manifest().kind();
        if (!RQVAE.equals(kind) && !RQ_KMEANS.equals(kind)) {
            throw new CheckpointException(dir.uri() + " holds a '" + kind + "' model, not a semantic-ID model ("
                    + RQVAE + " or " + RQ_KMEANS + ")");
        }
        SidRunConfig config = c.config(SidRunConfig.class);
        SidCoder coder = RQVAE.equals(kind) ? SidModel.fromStateDict(config.model(), c.model(), manager)
                : RqKMeans.fromStateDict(config.model(), c.model(), manager);
        return new Loaded(coder, config, c);
    }
}
