package dev.rq.jobs.train;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.model.checkpoint.CheckpointDir;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.TrainConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.train.StepLoop;
import java.io.IOException;
import java.io.Serializable;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;

/**
 * What a data-parallel training job trains: the RQ-VAE ({@link VaeStage}) or the RQ-Transformer.
 * {@link RankTask} and {@link TrainingJob} own everything else (ring, resume, checkpoint commit,
 * progress, retries), so both stages get the same guarantees.
 *
 * <p>A stage holds its validated config records (nanoGPT's {@code GPT(config)}: bound and checked once,
 * when the command reads the file) and is serialised to the executors with them; {@link #open} runs in
 * each barrier task.
 */
public interface TrainingStage extends Serializable {

    /** @return the checkpoint kind ({@code rqvae}, {@code rqtransformer}) */
    String kind();

    /** @return the resolved configuration as a JSON tree (hashed into {@code run.json}) */
    JsonNode config();

    /**
     * Re-resolves a run's stored config ({@code run.json}'s {@code config}) with this version's
     * binding, the one the command's loader uses: keys added since get their defaults, a removed
     * key or a value this version rejects fails. {@link RunDirectory#claim} resumes a run whose
     * stored config re-resolves to this stage's {@link #config}.
     *
     * @param stored the stored tree (may be modified)
     * @return the resolved tree, comparable to {@link #config}
     * @throws ConfigException naming the key this version does not accept
     */
    JsonNode resolve(JsonNode stored);

    /**
     * @return whether {@code workers} ranks all-reduce in the tree order ({@code train.allreduce_order},
     *     {@link TrainConfig#treeAllReduce}); false (the ring's order) for a stage without the key
     */
    default boolean treeAllReduce(int workers) {
        return false;
    }

    /** @return step limits and checkpoint cadence */
    Limits limits();

    /**
     * The checks of the validated config against {@code workers} ranks that read nothing (the
     * batch splits into equal shares, ...): the first thing {@link #validate} does, and what a
     * command runs before it starts a Spark session.
     *
     * @throws ConfigException naming the key to change
     */
    void check(int workers);

    /**
     * Driver-side checks before any cluster work, in one place: {@link #check}, then the inputs
     * (the data exists and holds a batch, {@code --init} fits the model, ...).
     */
    void validate(Configuration conf, int workers) throws IOException;

    /** Builds this rank's replica, from {@code latest} when present, else from the seed. */
    Replica open(Collective ring, NDManager manager, Configuration conf, Optional<CheckpointDir> latest)
            throws IOException;

    /**
     * Step limits.
     *
     * @param maxSteps optimizer steps of the run
     * @param checkpointEvery steps between checkpoints (0 = only the last)
     * @param logEvery steps between progress records
     * @param keepCheckpoints committed checkpoints kept
     */
    record Limits(long maxSteps, int checkpointEvery, int logEvery, int keepCheckpoints) implements Serializable {

        /** @return the limits of a training config */
        public static Limits of(TrainConfig t) {
            return new Limits(t.maxSteps(), t.checkpointEvery(), t.logEvery(), t.keepCheckpoints());
        }
    }

    /** One rank's model, optimizer and data stream. */
    interface Replica extends AutoCloseable {

        /** @return optimizer steps taken */
        long step();

        /** @return SHA-256 of the loaded checkpoint's model file (checked equal on all ranks), or null */
        String loadedFrom();

        /**
         * One optimizer step on this rank's next micro-batches.
         *
         * @return the step's metrics (global over ranks) as JSON fields
         */
        ObjectNode trainStep() throws IOException;

        /** @return SHA-256 over every tensor of the model */
        String weightsSha();

        /** Writes a complete checkpoint (rank 0 only); {@code state} carries the common fields. */
        void save(CheckpointDir dir, ObjectNode state) throws IOException;

        /**
         * @return the optimizer step, whose sharded optimizer state ({@code train.shard_optimizer_state})
         *     the other ranks stream to rank 0 while it {@link #save}s; null for a stage without one
         */
        default StepLoop stepLoop() {
            return null;
        }

        /** Rank 0, after a checkpoint is committed: plots, sample grids (best effort). */
        void afterCommit(RunDirectory run, long step) throws IOException;

        @Override
        void close();
    }
}
