package dev.rq.jobs.sample;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import dev.rq.executor.ExecutorModels;
import dev.rq.executor.TaskDevice;
import dev.rq.io.HadoopDir;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.model.config.SamplingConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.NoGrad;
import dev.rq.model.engine.Precision;
import dev.rq.model.sampling.RqSampler;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.transformer.TransformerCheckpoint;
import dev.rq.model.util.Rng;
import dev.rq.model.vae.RqVae;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The RQ-Transformer and RQ-VAE of a sample job on an executor: a small serializable handle
 * travels with the tasks; both checkpoints are loaded lazily, once per executor JVM and device, by
 * the one executor-wide cache ({@link ExecutorModels}, keyed by both URIs and SHA-256s) onto the
 * task's device ({@link TaskDevice}: the GPU Spark assigned to the task, else the CPU), verified
 * against their own checksums and against the {@code model.safetensors} SHA-256s the driver saw.
 *
 * <p>Tasks of an executor share the (read-only, eval-mode) models. With {@code lanes} (the default)
 * they call them concurrently, each call with {@code threads} libtorch intra-op threads on the
 * calling task's thread: Spark's task slots are the model's lanes, as in the tokenize job. Without,
 * sampling calls are serialized by one lock and decoding calls by another (one task decodes while
 * the next samples), each call with {@code threads} threads — the design before lanes, kept for
 * comparison ({@code scripts/sample-lanes-ab.sh}).
 */
public final class SamplerModel implements Serializable {
    private static final long serialVersionUID = 3L;
    private static final Logger LOG = LoggerFactory.getLogger(SamplerModel.class);

    /** The {@link ExecutorModels} kind of sampler models (transformer + RQ-VAE pairs). */
    public static final String KIND = "sampler";

    private final String transformerUri;
    private final String transformerSha256;
    private final String vaeUri;
    private final String vaeSha256;
    private final int threads;
    private final boolean lanes;
    private final Precision precision;
    private final SerializableHadoopConf conf;

    /**
     * @param transformerUri stage-2 checkpoint URI
     * @param transformerSha256 expected SHA-256 of its {@code model.safetensors}
     * @param vaeUri stage-1 checkpoint URI
     * @param vaeSha256 expected SHA-256 of its {@code model.safetensors}
     * @param threads libtorch intra-op threads per model call (0 = libtorch default)
     * @param lanes concurrent tasks call the models concurrently (false: one sampling and one
     *     decoding call at a time per executor)
     * @param precision compute precision of both models
     * @param conf Hadoop configuration to open the checkpoints with
     */
    public SamplerModel(String transformerUri, String transformerSha256, String vaeUri, String vaeSha256, int threads,
            boolean lanes, Precision precision, SerializableHadoopConf conf) {
        this.lanes = lanes;
        this.precision = precision;
        this.transformerUri = transformerUri;
        this.transformerSha256 = transformerSha256;
        this.vaeUri = vaeUri;
        this.vaeSha256 = vaeSha256;
        this.threads = threads;
        this.conf = conf;
    }

    /**
     * Both models loaded in this JVM, each on its own root manager; without lanes each with its own
     * lock (one task can decode while another samples).
     */
    public static final class Loaded implements AutoCloseable {
        private final NDManager transformerManager;
        private final NDManager vaeManager;
        private final RqTransformer transformer;
        private final RqVae vae;
        private final RqSampler sampler;
        private final int threads;
        private final ReentrantLock sampleLock; // null with lanes
        private final ReentrantLock decodeLock;

        Loaded(NDManager transformerManager, RqTransformer transformer, NDManager vaeManager, RqVae vae, int threads,
                boolean lanes) {
            this.sampleLock = lanes ? null : new ReentrantLock(true);
            this.decodeLock = lanes ? null : new ReentrantLock(true);
            this.transformerManager = transformerManager;
            this.vaeManager = vaeManager;
            this.transformer = transformer;
            this.vae = vae;
            this.sampler = new RqSampler(transformer, vae);
            this.threads = threads;
        }

        /**
         * Samples one batch with the KV cache and decodes it.
         *
         * @param cond class id per row (null: unconditional)
         * @param s sampling settings
         * @param rows one generator per row
         * @return codes [B, H, W, D] and images [B, 3, R, R] (floats in about [−1, 1])
         */
        public Generated sampleAndDecode(long[] cond, SamplingConfig s, Rng[] rows) {
            long t0 = System.nanoTime();
            long[] codes;
            lock(sampleLock);
            try (NoGrad inference = NoGrad.enter()) {
                Engines.pytorch(threads); // intra-op threads are per calling thread
                codes = sampler.sample(cond, s, rows, true);
            } finally {
                unlock(sampleLock);
            }
            long t1 = System.nanoTime();
            float[] images;
            lock(decodeLock);
            try (NoGrad inference = NoGrad.enter(); NDManager sub = vaeManager.newSubManager();
                    NDScope scope = new NDScope()) {
                Engines.pytorch(threads);
                images = vae.decodeCodes(sampler.toTensor(sub, codes)).toFloatArray();
            } finally {
                unlock(decodeLock);
            }
            LOG.info("sampled {} images in {} ms, decoded in {} ms", rows.length, (t1 - t0) / 1_000_000,
                    (System.nanoTime() - t1) / 1_000_000);
            return new Generated(codes, images);
        }

        private static void lock(ReentrantLock l) {
            if (l != null) {
                l.lock();
            }
        }

        private static void unlock(ReentrantLock l) {
            if (l != null) {
                l.unlock();
            }
        }

        @Override
        public void close() {
            SamplerModel.close(transformer, vae, transformerManager, vaeManager);
        }
    }

    /**
     * One batch's output.
     *
     * @param codes [B, H, W, D] flattened (h, w, d)
     * @param images [B, 3, R, R] flattened
     */
    public record Generated(long[] codes, float[] images) {}

    /** @return the executor's models on this task's device, loading and verifying them on first use */
    public Loaded get() {
        String key = transformerUri + "#" + transformerSha256 + "|" + vaeUri + "#" + vaeSha256 + "@" + precision.id()
                + (lanes ? "" : "/one-lane");
        return ExecutorModels.get(KIND, key, TaskDevice.current(), this::load);
    }

    private Loaded load(Device device) {
        Engines.pytorch(threads);
        NDManager tm = Engines.newManager(device);
        NDManager vm = Engines.newManager(device);
        RqTransformer transformer = null;
        RqVae vae = null;
        try {
            TransformerCheckpoint.Loaded t = TransformerCheckpoint.load(new HadoopDir(transformerUri, conf.get()),
                    tm); // verifies every checksum
            transformer = t.model();
            ExecutorModels.requireModelSha(transformerUri, t.checkpoint(), transformerSha256);
            transformer.setPrecision(precision); // bf16 on a CPU without bf16 units fails here
            vae = ExecutorModels.verifiedVae(vaeUri, vaeSha256, conf.get(), vm, precision);
            return new Loaded(tm, transformer, vm, vae, threads, lanes);
        } catch (IOException e) {
            close(transformer, vae, tm, vm);
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            close(transformer, vae, tm, vm);
            throw e;
        }
    }

    private static void close(RqTransformer t, RqVae v, NDManager tm, NDManager vm) {
        if (t != null) {
            t.close();
        }
        if (v != null) {
            v.close();
        }
        tm.close();
        vm.close();
    }
}
