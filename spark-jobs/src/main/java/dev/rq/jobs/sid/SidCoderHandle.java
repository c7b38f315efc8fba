package dev.rq.jobs.sid;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import dev.rq.io.HadoopDir;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.engine.Engines;
import dev.rq.model.nn.Tensors;
import dev.rq.model.sid.SidCheckpoint;
import dev.rq.model.sid.SidCoder;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The semantic-ID model of a job on an executor, after DJL Spark's {@code ModelLoader} pattern (as
 * the tokenizer's): this serializable handle travels with the tasks; the {@link SidCoder} is loaded
 * once per executor JVM (a static cache keyed by checkpoint URI and SHA-256), verified against the
 * checkpoint's checksums and the model SHA-256 the driver saw. Concurrent tasks share it; each
 * call runs with {@code threads} libtorch intra-op threads on the calling task's thread.
 */
final class SidCoderHandle implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final Map<String, Loaded> CACHE = new ConcurrentHashMap<>();

    /** A coder loaded in this JVM with the manager owning its tensors. */
    private record Loaded(NDManager manager, SidCoder coder) {}

    private final String checkpointUri;
    private final String modelSha256;
    private final int threads;
    private final SerializableHadoopConf conf;

    SidCoderHandle(String checkpointUri, String modelSha256, int threads, SerializableHadoopConf conf) {
        this.checkpointUri = checkpointUri;
        this.modelSha256 = modelSha256;
        this.threads = threads;
        this.conf = conf;
    }

    /**
     * Codes and reconstruction statistics of a batch (eval mode).
     *
     * @param codes [n, D] row-major
     * @param mse [n] mean squared error of each item's reconstruction
     * @param cosine [n] cosine similarity of each item with its reconstruction
     */
    record Encoded(long[] codes, float[] mse, float[] cosine) {}

    /**
     * @param x [n, dim] row-major (only the first n rows are used)
     */
    Encoded encode(float[] x, int n, int dim) {
        SidCoder coder = get();
        Engines.pytorch(threads);
        try (NDScope scope = new NDScope()) { // frees the batch's tensors
            NDManager m = Engines.newManager();
            try (m) {
                NDArray in = Tensors.of(m, x.length == n * dim ? x : java.util.Arrays.copyOf(x, n * dim),
                        new Shape(n, dim));
                NDArray codes = coder.codes(in); // [n, D]
                NDArray rec = coder.reconstruct(codes); // [n, dim]
                float[] mse = rec.sub(in).square().mean(new int[] {1}).toFloatArray();
                NDArray dot = rec.mul(in).sum(new int[] {1});
                NDArray norms = rec.norm(new int[] {1}).mul(in.norm(new int[] {1})).maximum(1e-12f);
                return new Encoded(codes.toLongArray(), mse, dot.div(norms).toFloatArray());
            }
        }
    }

    /** @return the executor's coder, loading and verifying it on first use */
    SidCoder get() {
        return CACHE.computeIfAbsent(checkpointUri + "#" + modelSha256, k -> load()).coder();
    }

    private Loaded load() {
        Engines.pytorch(threads);
        NDManager manager = Engines.newManager();
        try {
            SidCheckpoint.Loaded l = SidCheckpoint.load(new HadoopDir(checkpointUri, conf.get()), manager);
            String sha = l.checkpoint().manifest().files().get(Checkpoints.MODEL).sha256();
            if (!sha.equals(modelSha256)) {
                l.coder().close();
                throw new CheckpointException(checkpointUri + ": " + Checkpoints.MODEL + " has SHA-256 " + sha
                        + " on this executor, the driver saw " + modelSha256 + " (checkpoint replaced while the job ran?)");
            }
            return new Loaded(manager, l.coder());
        } catch (IOException e) {
            manager.close();
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /** Closes and forgets every cached model of this JVM (tests; no task may be running). */
    static void clearCache() {
        CACHE.values().forEach(l -> {
            l.coder().close();
            l.manager().close();
        });
        CACHE.clear();
    }
}
