package dev.rq.model.vae;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.rq.model.checkpoint.CheckpointDir;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.checkpoint.Manifest;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.safetensors.TensorData;
import java.io.IOException;
import java.util.Map;

/** Saving and loading RQ-VAE checkpoints (kind {@value #KIND}). */
public final class VaeCheckpoint {

    /** The manifest kind of RQ-VAE checkpoints. */
    public static final String KIND = "rqvae";

    private VaeCheckpoint() {}

    /**
     * The discriminator of a stage-1 run with the GAN pair: the official checkpoint's {@code
     * discriminator} entry ({@code NLayerDiscriminator} state dict, keys {@code main.*}).
     */
    public static final String DISCRIMINATOR = "discriminator.safetensors";

    /** The discriminator's Adam moments ({@code exp_avg.main.*}, {@code exp_avg_sq.main.*}). */
    public static final String DISCRIMINATOR_OPTIMIZER = "discriminator_optimizer.safetensors";

    /**
     * Writes a checkpoint of {@code vae}.
     *
     * @param optimizer optimizer moments, or null
     * @param trainerState trainer state (RNG, cursor), or null
     */
    public static Manifest save(CheckpointDir dir, RqVae vae, RqVaeRunConfig config, long step,
            Map<String, ? extends TensorData> optimizer, JsonNode trainerState) throws IOException {
        return save(dir, vae, config, step, optimizer, trainerState, null, null);
    }

    /**
     * Writes a checkpoint of {@code vae} and, with the GAN pair, of the discriminator ({@value
     * #DISCRIMINATOR}) and its optimizer ({@value #DISCRIMINATOR_OPTIMIZER}).
     *
     * @param discriminator the discriminator's state dict (official keys), or null
     * @param discriminatorOptimizer its optimizer moments, or null
     */
    public static Manifest save(CheckpointDir dir, RqVae vae, RqVaeRunConfig config, long step,
            Map<String, ? extends TensorData> optimizer, JsonNode trainerState,
            Map<String, ? extends TensorData> discriminator, Map<String, ? extends TensorData> discriminatorOptimizer)
            throws IOException {
        Map<String, Map<String, ? extends TensorData>> extra = new java.util.LinkedHashMap<>();
        if (discriminator != null) {
            extra.put(DISCRIMINATOR, discriminator);
        }
        if (discriminatorOptimizer != null) {
            extra.put(DISCRIMINATOR_OPTIMIZER, discriminatorOptimizer);
        }
        return Checkpoints.write(dir, new Checkpoints.Contents(KIND, config, step, config.train().seed(),
                vae.stateTensors(), optimizer, trainerState, extra));
    }

    /** A loaded model with its run configuration and the verified checkpoint. */
    public record Loaded(RqVae vae, RqVaeRunConfig config, Checkpoints.Loaded checkpoint) {}

    /**
     * Reads, verifies and instantiates an RQ-VAE checkpoint, streaming the weights into {@code
     * manager} (one pass over {@code model.safetensors}, checksum verified at its end).
     */
    public static Loaded load(CheckpointDir dir, NDManager manager) throws IOException {
        Checkpoints.Loaded c = Checkpoints.open(dir);
        if (!KIND.equals(c.manifest().kind())) {
            throw new CheckpointException(dir.uri() + " holds a '" + c.manifest().kind() + "' model, not an RQ-VAE");
        }
        RqVaeRunConfig config = c.config(RqVaeRunConfig.class);
        return new Loaded(RqVae.fromState(config.model(), c.modelSource(), manager), config, c);
    }
}
