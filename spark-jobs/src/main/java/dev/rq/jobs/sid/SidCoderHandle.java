package dev.rq.jobs.sid;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import dev.rq.executor.ExecutorModels;
import dev.rq.executor.TaskDevice;
import dev.rq.io.HadoopDir;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.NoGrad;
import dev.rq.model.nn.Tensors;
import dev.rq.model.sid.SidCheckpoint;
import dev.rq.model.engine.Precision;
import dev.rq.model.sid.SidCoder;
import dev.rq.model.sid.SidModel;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;

/**
 * The semantic-ID model of a job on an executor: this small serializable handle travels with the
 * tasks; the {@link SidCoder} is loaded once per executor JVM and device by the executor-wide cache
 * ({@link ExecutorModels}, keyed by checkpoint URI and SHA-256) onto the task's device ({@link
 * TaskDevice}), verified against the checkpoint's checksums and the model SHA-256 the driver saw.
 * Concurrent tasks share it (eval-mode calls only); each call runs with {@code threads} libtorch
 * intra-op threads on the calling task's thread.
 */
final class SidCoderHandle implements Serializable {
    private static final long serialVersionUID = 3L;

    /** The {@link ExecutorModels} kind of semantic-ID models. */
    static final String KIND = "sid-coder";

    private final String checkpointUri;
    private final String modelSha256;
    private final int threads;
    private final SerializableHadoopConf conf;
    private final Precision precision;

    SidCoderHandle(String checkpointUri, String modelSha256, int threads, SerializableHadoopConf conf) {
        this(checkpointUri, modelSha256, threads, conf, Precision.FP32);
    }

    /**
     * @param precision the encoder's and decoder's compute precision (bf16: bfloat16 matrix
     *     products; the levels stay float32; residual k-means models are float32 whatever it is)
     */
    SidCoderHandle(String checkpointUri, String modelSha256, int threads, SerializableHadoopConf conf,
            Precision precision) {
        this.checkpointUri = checkpointUri;
        this.modelSha256 = modelSha256;
        this.threads = threads;
        this.conf = conf;
        this.precision = precision;
    }

    /** A coder loaded in this JVM with the manager owning its tensors. */
    static final class Loaded implements AutoCloseable {
        private final NDManager manager;
        private final SidCoder coder;

        Loaded(NDManager manager, SidCoder coder) {
            this.manager = manager;
            this.coder = coder;
        }

        @Override
        public void close() {
            coder.close();
            manager.close();
        }
    }

    /**
     * Codes and reconstruction statistics of a batch (eval mode).
     *
     * @param codes [n, D] row-major
     * @param mse [n] mean squared error of each reconstructed item's reconstruction (NaN where not
     *     reconstructed)
     * @param cosine [n] cosine similarity of each reconstructed item with its reconstruction (NaN
     *     where not reconstructed)
     * @param codeNanos time spent on the codes (the rest of the call is the reconstructions)
     */
    record Encoded(long[] codes, float[] mse, float[] cosine, long codeNanos) {}

    /**
     * @param x [n, dim] row-major (only the first n rows are used)
     * @param reconstruct which rows to reconstruct for the statistics (null: none)
     */
    Encoded encode(float[] x, int n, int dim, boolean[] reconstruct) {
        long t0 = System.nanoTime();
        Loaded l = loaded();
        Engines.pytorch(threads); // intra-op threads of this (task) thread
        try (NoGrad inference = NoGrad.enter(); NDManager m = l.manager.newSubManager();
                NDScope scope = new NDScope(); // frees the batch's tensors
                AutoCloseable frozen = l.coder instanceof SidModel s ? s.params().freeze() : null) { // bf16 casts once
            NDArray in = Tensors.of(m, x.length == n * dim ? x : java.util.Arrays.copyOf(x, n * dim), new Shape(n, dim));
            NDArray codes = l.coder.codes(in); // [n, D]
            long[] c = codes.toLongArray();
            long codeNanos = System.nanoTime() - t0;
            float[] mse = new float[n];
            float[] cos = new float[n];
            java.util.Arrays.fill(mse, Float.NaN);
            java.util.Arrays.fill(cos, Float.NaN);
            int k = 0;
            long[] rows = new long[n];
            for (int i = 0; i < n; i++) {
                if (reconstruct != null && reconstruct[i]) {
                    rows[k++] = i;
                }
            }
            if (k > 0) {
                NDArray at = Tensors.of(m, java.util.Arrays.copyOf(rows, k));
                NDArray xs = in.get(new NDIndex("{}", at)); // [k, dim]
                NDArray rec = l.coder.reconstruct(codes.get(new NDIndex("{}", at))); // [k, dim]
                float[] e = rec.sub(xs).square().mean(new int[] {1}).toFloatArray();
                NDArray dot = rec.mul(xs).sum(new int[] {1});
                NDArray norms = rec.norm(new int[] {1}).mul(xs.norm(new int[] {1})).maximum(1e-12f);
                float[] cs = dot.div(norms).toFloatArray();
                for (int j = 0; j < k; j++) {
                    mse[(int) rows[j]] = e[j];
                    cos[(int) rows[j]] = cs[j];
                }
            }
            return new Encoded(c, mse, cos, codeNanos);
        } catch (Exception e) {
            throw e instanceof RuntimeException r ? r : new IllegalStateException(e);
        }
    }

    /** @return the executor's coder on this task's device, loading and verifying it on first use */
    SidCoder get() {
        return loaded().coder;
    }

    /**
     * The coder for code outside Spark tasks (the driver): leased, so the executor model cache
     * ({@link ExecutorModels}, which shares the driver's JVM in local mode) does not close it while
     * it is used, until the {@link Pinned} is closed.
     */
    Pinned acquire() {
        ExecutorModels.Lease<Loaded> lease = ExecutorModels.acquire(KIND, key(), TaskDevice.current(), this::load);
        return new Pinned(lease.get().coder, lease);
    }

    /** A coder leased outside Spark tasks; {@link #close} ends the lease. */
    record Pinned(SidCoder coder, ExecutorModels.Lease<?> lease) implements AutoCloseable {
        @Override
        public void close() {
            lease.close();
        }
    }

    private String key() {
        return checkpointUri + "#" + modelSha256 + "#" + precision.id();
    }

    private Loaded loaded() {
        return ExecutorModels.get(KIND, key(), TaskDevice.current(), this::load);
    }

    private Loaded load(Device device) {
        Engines.pytorch(threads);
        NDManager manager = Engines.newManager(device);
        try {
            SidCheckpoint.Loaded l = SidCheckpoint.load(new HadoopDir(checkpointUri, conf.get()), manager);
            try {
                ExecutorModels.requireModelSha(checkpointUri, l.checkpoint(), modelSha256);
            } catch (RuntimeException e) {
                l.coder().close();
                throw e;
            }
            if (l.coder() instanceof SidModel s) {
                try {
                    s.setPrecision(precision); // bf16 on a CPU without bfloat16 units fails here
                } catch (RuntimeException e) {
                    l.coder().close();
                    throw e;
                }
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
}
