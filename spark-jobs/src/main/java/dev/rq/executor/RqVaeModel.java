package dev.rq.executor;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.NoGrad;
import dev.rq.model.engine.Precision;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.vae.RqVae;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.ByteOrder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The RQ-VAE of the tokenize and decode jobs on an executor (both load it through this one cache
 * entry): this small serializable handle travels with the
 * tasks; the model itself is loaded lazily, once per executor JVM and device, by the one
 * executor-wide cache ({@link ExecutorModels}, keyed by checkpoint URI and SHA-256) onto the
 * task's device ({@link TaskDevice}: the GPU Spark assigned to the task, else the CPU), verified
 * against the checkpoint's checksums and against the {@code model.safetensors} SHA-256 the driver
 * saw (so every executor encodes with the same weights even if the checkpoint is replaced
 * mid-job).
 *
 * <p>Concurrent tasks of one executor share the (read-only) model and call it concurrently, each
 * call with {@code threads} libtorch intra-op threads on the calling task's thread: Spark's task
 * slots are the model's lanes. On 2 cores, two lanes of one thread encode bench64 batches about
 * 25 % faster than one lane of two threads (measured: 109–114 vs 84–92 img/s), because small
 * convolutions parallelise poorly inside one call and OpenMP workers spin while the other core
 * decodes or writes.
 */
public final class RqVaeModel implements Serializable {
    private static final long serialVersionUID = 3L;
    private static final Logger LOG = LoggerFactory.getLogger(RqVaeModel.class);

    /** The {@link ExecutorModels} kind of tokenizer models. */
    public static final String KIND = "tokenizer";

    private final String checkpointUri;
    private final String modelSha256;
    private final int threads;
    private final Precision precision;
    private final SerializableHadoopConf conf;

    /**
     * @param checkpointUri checkpoint directory URI
     * @param modelSha256 expected SHA-256 of {@code model.safetensors}
     * @param threads libtorch intra-op threads per model call, i.e. per task (0 = libtorch default)
     * @param precision compute precision of the encoder
     * @param conf Hadoop configuration to open the checkpoint with
     */
    public RqVaeModel(String checkpointUri, String modelSha256, int threads, Precision precision,
            SerializableHadoopConf conf) {
        this.checkpointUri = checkpointUri;
        this.modelSha256 = modelSha256;
        this.threads = threads;
        this.precision = precision;
        this.conf = conf;
    }

    /** A model loaded in this JVM with the lock that serializes its use. */
    public static final class Loaded implements AutoCloseable {
        private final NDManager manager;
        private final RqVae vae;
        private final int threads;
        /** The bfloat16 weights cast once for the model's life (it only encodes; see encode). */
        private final ParamStore.Frozen casts;

        Loaded(NDManager manager, RqVae vae, int threads) {
            this.manager = manager;
            this.vae = vae;
            this.threads = threads;
            this.casts = vae.params().holdFrozenCasts();
        }

        /** @return the model (eval-mode calls only: it is shared by concurrent tasks) */
        public RqVae vae() {
            return vae;
        }

        /**
         * Encodes a batch in eval mode.
         *
         * @param x NCHW floats, {@code batch·3·S·S}
         * @param batch N
         * @param size S
         * @param withLatents also return the pre-quantization latents as float16 bytes
         */
        public Encoded encode(float[] x, int batch, int size, boolean withLatents) {
            Engines.pytorch(threads); // intra-op threads of this (task) thread
            try (NoGrad inference = NoGrad.enter(); NDManager sub = manager.newSubManager(); NDScope scope = new NDScope();
                    ParamStore.Frozen frozen = vae.params().freeze()) { // reuses the held bfloat16 weights
                NDArray in = sub.create(x, new Shape(batch, 3, size, size));
                NDArray ze = vae.encode(in, false); // [B, h, w, C]
                NDArray codes = vae.quantizer().codes(ze); // eval mode: codes only
                long[] c = codes.toLongArray();
                byte[] lat = null;
                if (withLatents) {
                    if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
                        throw new IllegalStateException("float16 latents need a little-endian platform");
                    }
                    lat = ze.toType(DataType.FLOAT16, false).toByteArray();
                }
                return new Encoded(c, lat);
            }
        }

        @Override
        public void close() {
            casts.close();
            vae.close();
            manager.close();
        }
    }

    /**
     * Codes (and optionally latents) of a batch.
     *
     * @param codes [B, h, w, D] flattened
     * @param latentsF16 [B, h, w, C] float16 little-endian bytes, or null
     */
    public record Encoded(long[] codes, byte[] latentsF16) {}

    /** @return the executor's model on this task's device, loading and verifying it on first use */
    public Loaded get() {
        return ExecutorModels.get(KIND, checkpointUri + "#" + modelSha256 + "@" + precision.id(), TaskDevice.current(),
                this::load);
    }

    private Loaded load(Device device) {
        Engines.pytorch(threads);
        NDManager manager = Engines.newManager(device);
        try {
            return new Loaded(manager, ExecutorModels.verifiedVae(checkpointUri, modelSha256, conf.get(), manager,
                    precision), threads);
        } catch (IOException e) {
            manager.close();
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /**
     * Loads the model into this JVM's cache in a background daemon thread. For local masters, where
     * the driver JVM is the executor: the load (read, checksums, tensors; about 0.7 s for bench64)
     * then overlaps the driver's single-threaded query planning instead of delaying the first
     * tasks. Failures are only logged: the tasks load the model again and report the error.
     */
    public void preloadInBackground() {
        Thread t = new Thread(() -> {
            try {
                get();
            } catch (RuntimeException e) {
                LOG.warn("background load of {} failed (the tasks will retry it): {}", checkpointUri, e.toString());
            }
        }, "rq-tokenizer-preload");
        t.setDaemon(true);
        t.start();
    }
}
