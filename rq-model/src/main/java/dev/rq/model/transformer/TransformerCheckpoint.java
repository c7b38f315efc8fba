package dev.rq.model.transformer;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.rq.model.checkpoint.CheckpointDir;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.checkpoint.Manifest;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.safetensors.TensorData;
import java.io.InputStream;
import java.util.Arrays;
import java.util.List;
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

    /**
     * Imports an official RQ-Transformer state dict (a safetensors conversion of the official
     * {@code model.pt}'s {@code state_dict}) as a checkpoint of step 0, streaming: names and shapes
     * are checked against {@code config} from the header before any data is read (every official
     * key, no extras; the first mismatching key is named), then the tensors are copied one chunk
     * at a time (float16 / float64 converted to float32), so a model of any size imports in
     * bounded memory.
     *
     * @param weights the official state dict, positioned at its start; read to its end
     */
    public static Manifest importOfficial(CheckpointDir dir, TransformerRunConfig config, InputStream weights)
            throws IOException {
        SafeTensors.Header header = SafeTensors.readHeader(weights);
        Map<String, long[]> declared = RqTransformer.declaredShapes(config.model());
        for (Map.Entry<String, long[]> e : declared.entrySet()) {
            SafeTensors.Entry t = header.entry(e.getKey());
            if (t == null) {
                throw new IllegalArgumentException("the official state dict lacks " + e.getKey() + " (shape "
                        + Arrays.toString(e.getValue()) + "); does --config describe this model?");
            }
            if (!Arrays.equals(t.shape(), e.getValue())) {
                throw new IllegalArgumentException("tensor " + e.getKey() + " has shape " + Arrays.toString(t.shape())
                        + " in the official state dict, but the config gives " + Arrays.toString(e.getValue()));
            }
            if (t.dtype() != HostTensor.Dtype.F32 && t.dtype() != HostTensor.Dtype.F16
                    && t.dtype() != HostTensor.Dtype.F64) {
                throw new IllegalArgumentException("tensor " + e.getKey() + " is " + t.dtype() + ", not a float tensor");
            }
        }
        List<String> extra = header.keys().stream().filter(k -> !declared.containsKey(k)).toList();
        if (!extra.isEmpty()) {
            throw new IllegalArgumentException("the official state dict has " + extra.size()
                    + " tensors the config does not declare, first " + extra.get(0) + " (does --config describe this"
                    + " model?)");
        }
        Map<String, TensorData> tensors = SafeTensors.sequential(weights, header, HostTensor.Dtype.F32);
        return Checkpoints.write(dir, new Checkpoints.Contents(KIND, config, 0, config.train().seed(), tensors, null,
                null));
    }
}
