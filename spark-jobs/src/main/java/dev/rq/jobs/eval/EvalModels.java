package dev.rq.jobs.eval;

import dev.rq.io.PretrainedWeights;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.Device;
import dev.rq.executor.ExecutorModels;
import dev.rq.executor.TaskDevice;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.NoGrad;
import dev.rq.model.loss.Lpips;
import dev.rq.model.metrics.InceptionV3;
import dev.rq.model.nn.Tensors;
import dev.rq.model.vae.RqVae;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The networks of an eval job on an executor: this small serializable handle travels with the
 * tasks; the RQ-VAE and the FID Inception network are loaded once per executor JVM and device by
 * the one executor-wide cache ({@link ExecutorModels}) onto the task's device ({@link
 * TaskDevice}), verified against the SHA-256s the driver saw, and shared read-only by concurrent
 * tasks (eval-mode calls only), each call with {@code threads} libtorch intra-op threads on the
 * calling task's thread.
 */
public final class EvalModels implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(EvalModels.class);

    /** The {@link ExecutorModels} kind of eval networks. */
    public static final String KIND = "eval";

    private final String vaeUri;
    private final String vaeSha256;
    private final String inceptionUri;
    private final String inceptionSha256;
    private final int inceptionSize;
    private final String lpipsUri;
    private final String lpipsSha256;
    private final int threads;
    private final SerializableHadoopConf conf;

    /**
     * @param vaeUri RQ-VAE checkpoint URI, or null (no reconstruction or decoding)
     * @param vaeSha256 expected SHA-256 of its {@code model.safetensors}
     * @param inceptionUri FID Inception safetensors URI, or null (no features)
     * @param inceptionSha256 expected SHA-256 of that file
     * @param inceptionSize the FID network's resize side ({@code eval.inception_size}, 299 = FID)
     * @param lpipsUri LPIPS safetensors URI (official state dict), or null (no LPIPS)
     * @param lpipsSha256 expected SHA-256 of that file
     * @param threads libtorch intra-op threads per call (0 = libtorch's default)
     * @param conf Hadoop configuration to open the files with
     */
    public EvalModels(String vaeUri, String vaeSha256, String inceptionUri, String inceptionSha256,
            int inceptionSize, String lpipsUri, String lpipsSha256, int threads, SerializableHadoopConf conf) {
        this.vaeUri = vaeUri;
        this.vaeSha256 = vaeSha256;
        this.inceptionUri = inceptionUri;
        this.inceptionSha256 = inceptionSha256;
        this.inceptionSize = inceptionSize;
        this.lpipsUri = lpipsUri;
        this.lpipsSha256 = lpipsSha256;
        this.threads = threads;
        this.conf = conf;
    }

    /** @return whether LPIPS distances are computed */
    public boolean hasLpips() {
        return lpipsUri != null;
    }

    /** @return whether Inception features are computed */
    public boolean hasInception() {
        return inceptionUri != null;
    }

    /** Networks loaded in this JVM. */
    public static final class Loaded implements AutoCloseable {
        private final NDManager manager;
        private final RqVae vae;
        private final InceptionV3 inception;
        private final Lpips lpips;
        private final int threads;

        Loaded(NDManager manager, RqVae vae, InceptionV3 inception, Lpips lpips, int threads) {
            this.manager = manager;
            this.vae = vae;
            this.inception = inception;
            this.lpips = lpips;
            this.threads = threads;
        }

        /**
         * Per-image LPIPS of reconstructions: {@code LPIPS(x, clamp(x̂, −1, 1))} on [−1, 1] images
         * (the official LPIPS module in eval mode; the reconstruction clamped as for PSNR/SSIM).
         *
         * @param x originals [B, 3, S, S] in [−1, 1], flattened
         * @param recon reconstructions [B, 3, S, S] (not clamped), flattened
         * @return [B] distances
         */
        public float[] lpips(float[] x, float[] recon, int batch, int size) {
            Engines.pytorch(threads);
            try (NoGrad inference = NoGrad.enter(); NDManager sub = manager.newSubManager();
                    NDScope scope = new NDScope()) {
                Shape s = new Shape(batch, 3, size, size);
                return lpips.distance(Tensors.of(sub, x, s), Tensors.of(sub, recon, s).clip(-1f, 1f)).toFloatArray();
            }
        }

        /**
         * Eval-mode reconstruction of a batch (official {@code stage1_model(x)}: encode, quantize
         * without EMA updates, decode).
         *
         * @param x [B, 3, S, S] in [−1, 1], flattened
         * @return the reconstructions (not clamped) and codes [B, h, w, D]
         */
        public Reconstruction reconstruct(float[] x, int batch, int size) {
            Engines.pytorch(threads);
            try (NoGrad inference = NoGrad.enter(); NDManager sub = manager.newSubManager();
                    NDScope scope = new NDScope()) {
                RqVae.Forward f = vae.forward(Tensors.of(sub, x, new Shape(batch, 3, size, size)), false,
                        Collective.local(), null);
                return new Reconstruction(f.recon().toFloatArray(), f.quantized().codes().toLongArray());
            }
        }

        /**
         * Decodes codes.
         *
         * @param codes [B, h, w, D], flattened
         * @return [B, 3, S, S] images in [−1, 1] (not clamped), flattened
         */
        public float[] decode(long[] codes, int batch, int[] codeShape) {
            Engines.pytorch(threads);
            try (NoGrad inference = NoGrad.enter(); NDManager sub = manager.newSubManager();
                    NDScope scope = new NDScope()) {
                return vae.decodeCodes(Tensors.own(sub.create(codes, new Shape(batch, codeShape[0], codeShape[1],
                        codeShape[2]))))
                        .toFloatArray();
            }
        }

        /**
         * Inception features of model-range images, as {@code compute_rfid} feeds them: {@code
         * clamp(x·0.5 + 0.5, 0, 1)}, then the FID network (resize to 299 or {@code eval.inception_size}, {@code 2x − 1}).
         *
         * @param x [B, 3, H, W] in [−1, 1] (clamped), flattened
         * @param logits also compute the 1008 logits
         */
        public Features features(float[] x, int batch, int height, int width, boolean logits) {
            Engines.pytorch(threads);
            try (NoGrad inference = NoGrad.enter(); NDManager sub = manager.newSubManager();
                    NDScope scope = new NDScope()) {
                NDArray in = Tensors.of(sub, x, new Shape(batch, 3, height, width)).mul(0.5f).add(0.5f).clip(0f, 1f);
                NDArray f = inception.features(in);
                return new Features(f.toFloatArray(), logits ? inception.logits(f).toFloatArray() : null);
            }
        }

        /** @return the RQ-VAE (null when the job has none) */
        public RqVae vae() {
            return vae;
        }

        @Override
        public void close() {
            if (vae != null) {
                vae.close();
            }
            if (inception != null) {
                inception.close();
            }
            if (lpips != null) {
                lpips.close();
            }
            manager.close();
        }
    }

    /**
     * @param recon [B, 3, S, S] flattened
     * @param codes [B, h, w, D] flattened
     */
    public record Reconstruction(float[] recon, long[] codes) {}

    /**
     * @param features [B, 2048] flattened
     * @param logits [B, 1008] flattened, or null
     */
    public record Features(float[] features, float[] logits) {}

    /** @return the executor's networks on this task's device, loading and verifying them on first use */
    public Loaded get() {
        return ExecutorModels.get(KIND, vaeUri + "#" + vaeSha256 + "|" + inceptionUri + "#" + inceptionSha256 + "@" + inceptionSize
                + "|" + lpipsUri + "#" + lpipsSha256,
                TaskDevice.current(), this::load);
    }

    private Loaded load(Device device) {
        long t0 = System.nanoTime();
        Engines.pytorch(threads);
        NDManager manager = Engines.newManager(device);
        RqVae vae = null;
        try {
            if (vaeUri != null) {
                vae = ExecutorModels.verifiedVae(vaeUri, vaeSha256, conf.get(), manager, null);
            }
            InceptionV3 inception = null;
            if (inceptionUri != null) {
                PretrainedWeights w = PretrainedWeights.read(inceptionUri, "eval.inception_weights", conf.get());
                ExecutorModels.requireSha(inceptionUri, w.sha256(), inceptionSha256);
                inception = InceptionV3.fromStateDict(w.tensors(), manager, inceptionSize);
            }
            Lpips lpips = null;
            if (lpipsUri != null) {
                PretrainedWeights w = PretrainedWeights.read(lpipsUri, "eval.lpips_weights", conf.get());
                ExecutorModels.requireSha(lpipsUri, w.sha256(), lpipsSha256);
                lpips = Lpips.fromStateDict(w.tensors(), manager);
            }
            LOG.info("loaded eval networks (RQ-VAE {}, Inception {}, LPIPS {}) in {} ms", vaeUri, inceptionUri,
                    lpipsUri, (System.nanoTime() - t0) / 1_000_000);
            return new Loaded(manager, vae, inception, lpips, threads);
        } catch (IOException e) {
            closeAll(vae, manager);
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            closeAll(vae, manager);
            throw e;
        }
    }

    private static void closeAll(RqVae vae, NDManager manager) {
        if (vae != null) {
            vae.close();
        }
        manager.close();
    }
}
