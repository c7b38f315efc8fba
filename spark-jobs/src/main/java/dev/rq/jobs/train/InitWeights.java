package dev.rq.jobs.train;

import dev.rq.io.HadoopDir;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.config.ConfigException;
import dev.rq.model.safetensors.SafeTensors;
import java.io.IOException;
import java.util.function.Consumer;
import org.apache.hadoop.conf.Configuration;

/**
 * {@code train.init} ({@code --init <checkpoint>}): the model weights of another checkpoint start a
 * run — fine-tuning, as the official LSUN recipe starts from the ImageNet RQ-VAE. Weights only
 * (with the EMA codebook buffers, which are part of the model): the optimizer starts fresh and the
 * step at 0. Only a run without committed checkpoints starts from it; later (re)starts resume from
 * the run's own checkpoints.
 */
final class InitWeights {

    private static final String KEY = "train.init";

    private InitWeights() {}

    /**
     * Driver check before any cluster work: the checkpoint is complete, holds a model of {@code
     * kind}, and its tensors have the configured model's names and shapes (only the header is read).
     *
     * @param checkShapes throws {@link IllegalArgumentException} naming the first mismatching key
     * @throws ConfigException naming {@code train.init}
     */
    static void validate(String uri, String kind, Configuration conf, Consumer<SafeTensors.Header> checkShapes)
            throws IOException {
        Checkpoints.Loaded c;
        try {
            c = Checkpoints.open(new HadoopDir(uri, conf));
        } catch (CheckpointException e) {
            throw new ConfigException(KEY, e.getMessage());
        }
        if (!kind.equals(c.manifest().kind())) {
            throw new ConfigException(KEY, uri + " holds a '" + c.manifest().kind() + "' model; this run trains '"
                    + kind + "'");
        }
        try {
            checkShapes.accept(c.modelHeader());
        } catch (IllegalArgumentException e) {
            throw new ConfigException(KEY, uri + " does not fit the configured model: " + e.getMessage());
        }
    }

    /** @return the checkpoint of {@code train.init}, manifest checked; its model file verifies as it streams */
    static Checkpoints.Loaded open(String uri, Configuration conf) throws IOException {
        return Checkpoints.open(new HadoopDir(uri, conf));
    }
}
