package dev.rq.model.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.config.VaeConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Precision;
import dev.rq.model.engine.Switches;
import dev.rq.model.kernels.Kernels;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.safetensors.TensorData;
import dev.rq.model.safetensors.TensorSource;
import java.io.IOException;
import dev.rq.model.nn.Conv2d;
import dev.rq.model.nn.Ops;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.quantizer.ResidualQuantizer;
import dev.rq.model.util.Rng;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The RQ-VAE (stage 1), exactly the official model (spec §1–2): encoder → {@code quant_conv} →
 * channels-last → residual quantizer → channels-first → {@code post_quant_conv} → decoder.
 *
 * <p>Shapes: images x [B, 3, R, R] in [−1, 1]; latents z [B, h, w, C] (channels last); codes [B, h,
 * w, D] int64, depth last, raster order. Tensors are kept under their official state-dict names,
 * so checkpoints of the official code load directly.
 */
public final class RqVae implements AutoCloseable {

    private final VaeConfig config;
    private final ParamStore params;
    private final Encoder encoder;
    private final Decoder decoder;
    private final ResidualQuantizer quantizer;
    private final Conv2d quantConv;
    private final Conv2d postQuantConv;

    private RqVae(VaeConfig config, NDManager manager) {
        this.config = config;
        this.params = new ParamStore(manager);
        // declaration order = official state-dict order
        this.encoder = new Encoder(params, config.ddconfig());
        this.decoder = new Decoder(params, config.ddconfig());
        this.quantizer = new ResidualQuantizer(params, config.hparams());
        int z = config.ddconfig().zChannels();
        int e = config.hparams().embedDim();
        this.quantConv = new Conv2d(params, "quant_conv", z, e, 1, 1, 0).keepFloat32();
        this.postQuantConv = new Conv2d(params, "post_quant_conv", e, z, 1, 1, 0).keepFloat32();
    }

    /** Creates a randomly initialised model (PyTorch default initialisers, seeded). */
    public static RqVae create(VaeConfig config, NDManager manager, long seed) {
        RqVae m = new RqVae(config, manager);
        m.params.initialize(Rng.of(seed, 0x1417));
        m.quantizer.initBuffers();
        return m;
    }

    /**
     * Creates a model from an official-format state dict. With a shared codebook the per-depth
     * copies must be identical; depth 0 is used.
     */
    public static RqVae fromStateDict(VaeConfig config, Map<String, HostTensor> state, NDManager manager) {
        try {
            return fromState(config, TensorSource.of(state), manager);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e); // cannot happen in memory
        }
    }

    /**
     * Creates a model from an official-format state dict streamed one tensor at a time (names and
     * shapes are checked before any data is read). With a shared codebook the per-depth copies
     * must be identical; depth 0 is used. Closes the partly loaded model if the source fails.
     */
    public static RqVae fromState(VaeConfig config, TensorSource state, NDManager manager) throws IOException {
        RqVae m = new RqVae(config, manager);
        try {
            if (!config.hparams().sharedCodebook()) {
                m.params.load(state, true);
                return m;
            }
            // shared: load depth 0, keep the (small) codebook tensors of every depth to compare
            Map<String, HostTensor> codebooks = new LinkedHashMap<>();
            Predicate<String> copy = k -> k.startsWith("quantizer.codebooks.") && !k.startsWith("quantizer.codebooks.0.");
            m.params.load(reader -> state.read(new TensorSource.Reader() {
                private Predicate<String> inner;

                @Override
                public Predicate<String> begin(SafeTensors.Header header) {
                    inner = reader.begin(header.without(copy));
                    return k -> copy.test(k) || inner.test(k);
                }

                @Override
                public void tensor(String name, HostTensor t) {
                    if (name.startsWith("quantizer.codebooks.")) {
                        codebooks.put(name, t);
                    }
                    if (!copy.test(name)) {
                        reader.tensor(name, t);
                    }
                }
            }), true);
            for (int d = 1; d < config.hparams().depth(); d++) {
                for (String t : List.of("weight", "cluster_size_ema", "embed_ema")) {
                    HostTensor a = codebooks.get("quantizer.codebooks.0." + t);
                    HostTensor b = codebooks.get("quantizer.codebooks." + d + "." + t);
                    if (a != null && b != null && !java.util.Arrays.equals(a.data(), b.data())) {
                        throw new IllegalArgumentException("shared codebook: quantizer.codebooks." + d + "." + t
                                + " differs from quantizer.codebooks.0." + t);
                    }
                }
            }
            return m;
        } catch (IOException | RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /**
     * Checks an official-format state's names and shapes against {@code config} without loading
     * anything (a shared codebook's per-depth copies are allowed).
     *
     * @throws IllegalArgumentException naming the first mismatching, missing or unexpected key
     */
    public static void checkState(VaeConfig config, SafeTensors.Header state) {
        try (NDManager m = dev.rq.model.engine.Engines.newManager()) {
            RqVae skeleton = new RqVae(config, m); // declares the tensors, allocates none
            Predicate<String> copy = k -> config.hparams().sharedCodebook() && k.startsWith("quantizer.codebooks.")
                    && !k.startsWith("quantizer.codebooks.0.");
            skeleton.params.checkAgainst(state.without(copy), true);
        }
    }

    /** @return the official state dict (shared codebooks repeated per depth), copied to the host */
    public Map<String, HostTensor> stateDict() {
        return official(params.toHost());
    }

    /**
     * @return the official state dict as views copied to the host one tensor at a time (streaming
     *     saves and hashes)
     */
    public Map<String, TensorData> stateTensors() {
        return official(params.tensors());
    }

    private <T> Map<String, T> official(Map<String, T> internal) {
        Map<String, T> out = new LinkedHashMap<>();
        Map<String, T> q = quantizer.officialState(internal);
        internal.forEach((k, v) -> {
            if (k.startsWith("quantizer.")) {
                if (k.startsWith("quantizer.codebooks.0.")) {
                    out.putAll(q); // insert all depths where the quantizer's entries start
                }
            } else {
                out.put(k, v);
            }
        });
        if (!out.keySet().containsAll(q.keySet())) {
            out.putAll(q);
        }
        return out;
    }

    /** @return the configuration */
    public VaeConfig config() {
        return config;
    }

    /** @return the compute precision (float32 unless set) */
    public Precision precision() {
        return params.precision();
    }

    /**
     * Sets the compute precision: {@link Precision#BF16} runs the encoder and decoder in bfloat16
     * except the layers whose precision decides the result, which stay float32 (as {@code
     * torch.autocast} keeps its fp32 ops): the encoder's {@code conv_in} (the image), its {@code
     * norm_out} and {@code conv_out} and the 1×1 convolutions around the quantizer (the quantizer's
     * input and output), and the decoder's {@code conv_out} (the reconstruction). The quantizer and
     * the losses are float32 in both precisions. On the trained quickstart checkpoint (16×16×2
     * codes) 97.4 % of the bf16 codes equal float32's with these layers in float32, 96.7 % with
     * everything in bfloat16 (docs/performance.md, "bf16 quality guards").
     */
    public void setPrecision(Precision precision) {
        params.setPrecision(precision);
    }

    /** @return the tensors (trainable parameters and buffers) */
    public ParamStore params() {
        return params;
    }

    /** @return the residual quantizer */
    public ResidualQuantizer quantizer() {
        return quantizer;
    }

    /**
     * Encoder, then {@code quant_conv}, then channels-last.
     *
     * @param x [B, 3, R, R]
     * @return z_e [B, h, w, C]
     */
    public NDArray encode(NDArray x, boolean training) {
        NDArray z = Kernels.toFloat32(quantConv.forward(encoder.forward(x, training))); // [B, C, h, w]
        return z.transpose(0, 2, 3, 1); // [B, h, w, C], contiguous when channels-last
    }

    /**
     * Channels-first, {@code post_quant_conv}, decoder.
     *
     * @param zq [B, h, w, C]
     * @return [B, 3, R, R] float32 (not clamped)
     */
    public NDArray decode(NDArray zq, boolean training) {
        NDArray z = zq.transpose(0, 3, 1, 2); // [B, C, h, w], channels-last strides
        NDArray h = params.toCompute(postQuantConv.forward(Ops.toModelLayout(z, training))); // float32 layer
        return Kernels.toFloat32(decoder.forward(h, training));
    }

    /** Key of the decoder's last convolution weight, the adaptive GAN weight's reference layer. */
    public static final String LAST_LAYER = "decoder.conv_out.weight";

    /**
     * {@link #decode} that also returns the input of the last layer {@link #LAST_LAYER}.
     *
     * @param zq [B, h, w, C]
     * @return [B, ch·ch_mult[0], R, R] (input of conv_out, compute precision) and [B, 3, R, R] (the
     *     reconstruction, float32)
     */
    public NDArray[] decodeWithLastInput(NDArray zq, boolean training) {
        NDArray z = zq.transpose(0, 3, 1, 2); // [B, C, h, w], channels-last strides
        NDArray h = params.toCompute(postQuantConv.forward(Ops.toModelLayout(z, training))); // float32 layer
        NDArray[] out = decoder.forwardWithHead(h, training);
        return new NDArray[] {out[0], Kernels.toFloat32(out[1])};
    }

    /**
     * A full forward pass.
     *
     * @param x [B, 3, R, R]
     * @param training train mode: EMA codebook updates (through {@code collective}), dropout
     */
    public Forward forward(NDArray x, boolean training, Collective collective, Rng rng) {
        NDArray ze = encode(x, training);
        ResidualQuantizer.Quantized q = quantizer.quantize(ze, training, collective, rng);
        NDArray recon = decode(q.zq(), training);
        return new Forward(ze, q, recon);
    }

    /**
     * Outputs of {@link #forward}.
     *
     * @param ze [B, h, w, C] encoder output
     * @param quantized z_q, commitment loss, codes, counts
     * @param recon [B, 3, R, R]
     */
    public record Forward(NDArray ze, ResidualQuantizer.Quantized quantized, NDArray recon) {}

    /**
     * Stage-1 loss without perceptual/GAN terms: {@code recon + β·commit}, recon = MSE or L1 mean (plus
     * {@code green_magenta_loss_weight} times the same loss of the error's G − (R + B)/2 channel when set).
     *
     * @param x [B, 3, R, R] the input
     */
    public LossTerms loss(NDArray x, Forward f) {
        NDArray diff = f.recon().sub(x);
        boolean mse = config.hparams().lossType().equals("mse");
        NDArray recon = mse ? diff.square().mean() : diff.abs().mean();
        float w = config.hparams().greenMagentaLossWeight().floatValue();
        if (w > 0) { // + w · loss of G − (R + B)/2 of the error, mean over B·R·R pixels
            NDArray gm = diff.get(":, 1").sub(diff.get(":, 0").add(diff.get(":, 2")).mul(0.5f)); // [B, R, R]
            recon = recon.add(Ops.scale(mse ? gm.square().mean() : gm.abs().mean(), w));
        }
        NDArray commit = f.quantized().commitLoss();
        NDArray total = recon.add(Ops.scale(commit, config.hparams().latentLossWeight().floatValue()));
        return new LossTerms(total, recon, commit);
    }

    /**
     * Loss terms (scalars).
     *
     * @param total recon + β·commit
     * @param recon reconstruction loss
     * @param commit commitment loss
     */
    public record LossTerms(NDArray total, NDArray recon, NDArray commit) {}

    /**
     * Codes of images (eval mode, no EMA update).
     *
     * @param x [B, 3, R, R]
     * @return [B, h, w, D] int64
     */
    public NDArray codes(NDArray x) {
        NDArray ze;
        // eval mode: no weight changes during the call, so each weight is cast once (reused across
        // calls while the caller holds the casts, see ParamStore.holdFrozenCasts)
        boolean freeze = !JniUtils.isGradMode() && Switches.on("rq.tokenize.frozen_casts");
        try (ParamStore.Frozen f = freeze ? params.freeze() : null) {
            ze = encode(x, false);
        }
        if (!Switches.on("rq.quantizer.codes_only")) { // the full eval quantize, to compare
            return quantizer.quantize(ze, false, Collective.local(), null).codes();
        }
        return quantizer.codes(ze);
    }

    /**
     * Images from codes.
     *
     * @param codes [B, h, w, D] int64
     * @return [B, 3, R, R]
     */
    public NDArray decodeCodes(NDArray codes) {
        return decode(quantizer.embedCode(codes), false);
    }

    /**
     * Images from the first {@code depth} code levels (coarse-to-fine), or from one level only.
     *
     * @param codes [B, h, w, D]
     * @param depthIndex 0-based depth
     * @param cumulative sum of depths 0..depthIndex when true; only that depth otherwise
     */
    public NDArray decodePartialCodes(NDArray codes, int depthIndex, boolean cumulative) {
        return decode(quantizer.embedPartialCode(codes, depthIndex, cumulative), false);
    }

    /**
     * Code vectors per depth (the RQ-Transformer's frozen token embeddings).
     *
     * @param codes [..., D]
     * @return [..., D, C]
     */
    public NDArray codeEmbeddingWithDepth(NDArray codes) {
        return quantizer.embedCodeWithDepth(codes);
    }

    /**
     * Soft codes of latents (stage-2 soft targets).
     *
     * @param ze [B, h, w, C]
     * @return soft codes [B, h, w, D, K] and codes [B, h, w, D]
     */
    public NDList softCodes(NDArray ze, double temperature, boolean stochastic, Rng rng) {
        return quantizer.softCodes(ze, temperature, stochastic, rng);
    }

    @Override
    public void close() {
        params.close();
    }
}
