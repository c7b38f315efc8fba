package dev.rq.model.transformer;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.rq.model.checkpoint.CheckpointDir;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.checkpoint.Manifest;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.safetensors.TensorData;
import java.io.IOException;
import java.util.Map;

/**
 * Saving and loading RQ-Transformer checkpoints (kind {@value #KIND}): {@code model.safetensors}
 * holds the official state dict (official key names), the manifest the whole stage-2 run config.
 * The RQ-VAE is not part of it: it comes from {@code config.vae()} (load it with {@link
 * dev.rq.model.vae.VaeCheckpoint}).
 */
public final class TransformerCheckpoint {

    /** The manifest kind of RQ-Transformer checkpoints. */
    public static final String KIND = "rqtransformer";

    private TransformerCheckpoint() {}

    /**
     * Writes a checkpoint of {@code model}.
     *
     * @param optimizer optimizer moments ({@link TransformerTrainer#optimizerState()}), or null
     * @param trainerState trainer state (step, data cursor, …), or null
     */
    public static Manifest save(CheckpointDir dir, RqTransformer model, TransformerRunConfig config, long step,
            Map<String, ? extends TensorData> optimizer, JsonNode trainerState) throws IOException {
        return Checkpoints.write(dir, new Checkpoints.Contents(KIND, config, step, config.train().seed(),
                model.stateTensors(), optimizer, trainerState));
    }

    /** A loaded model with its run configuration and the verified checkpoint. */
    public record Loaded(RqTransformer model, TransformerRunConfig config, Checkpoints.Loaded checkpoint) {}

    /**
     * Reads, verifies and instantiates an RQ-Transformer checkpoint, streaming the weights into
     * {@code manager} (one pass over {@code model.safetensors}, checksum verified at its end).
     */
    public static Loaded load(CheckpointDir dir, NDManager manager) throws IOException {
        Checkpoints.Loaded c = Checkpoints.open(dir);
        if (!KIND.equals(c.manifest().kind())) {
            throw new CheckpointException(dir.uri() + " holds a '" + c.manifest().kind()
                    + "' model, not an RQ-Transformer");
        }
        TransformerRunConfig config = TransformerRunConfig.bind(c.manifest().config().deepCopy());
        return new Loaded(RqTransformer.fromState(config.model(), c.modelSource(), manager), config, c);
    }
}
