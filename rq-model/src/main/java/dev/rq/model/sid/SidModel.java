package dev.rq.model.sid;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.SidModelConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.nn.Ops;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.util.Rng;
import java.util.List;
import java.util.Map;

/**
 * The RQ-VAE over item embeddings of TIGER (Rajput et al., "Recommender Systems with Generative
 * Retrieval", NeurIPS 2023, §3.1 and appendix): an MLP encoder, D residual levels of K codes, a
 * mirrored MLP decoder, trained on {@code MSE(x̂, x) + codebook + β·commitment}.
 *
 * <pre>
 * x [B, in] → encoder (Linear+ReLU … Linear) → z [B, C] → levels → z_q [B, C], codes [B, D]
 *           → decoder (mirrored widths) → x̂ [B, in]
 * </pre>
 *
 * Tensors: {@code encoder.<2i>.weight|bias}, {@code quantizer.codebooks.<d>.*}, {@code
 * decoder.<2i>.weight|bias} (the state-dict names of {@code nn.Sequential} MLPs, so the weights load
 * into PyTorch directly). With {@code codebook_update: ema} the levels are the image RQ-VAE's EMA
 * quantizer (codebook weight [K+1, C] with its zero padding row) and the loss has no codebook term.
 */
public final class SidModel implements SidCoder {

    private final SidModelConfig config;
    private final ParamStore params;
    private final Mlp encoder;
    private final Levels levels;
    private final Mlp decoder;

    private SidModel(SidModelConfig config, NDManager manager) {
        if (config.isKMeans()) {
            throw new ConfigException("model.method", "rq-kmeans has no RQ-VAE model (use RqKMeans)");
        }
        this.config = config;
        this.params = new ParamStore(manager);
        this.encoder = new Mlp(params, "encoder", config.encoderWidths());
        this.levels = Levels.of(params, config);
        this.decoder = new Mlp(params, "decoder", config.decoderWidths());
    }

    /** Creates a randomly initialised model (PyTorch default initialisers, seeded). */
    public static SidModel create(SidModelConfig config, NDManager manager, long seed) {
        SidModel m = new SidModel(config, manager);
        m.params.initialize(Rng.of(seed, 0x51d));
        if (m.levels instanceof Levels.Ema ema) {
            ema.initBuffers();
        }
        return m;
    }

    /** Creates a model from its state dict (every declared tensor required, no extra ones). */
    public static SidModel fromStateDict(SidModelConfig config, Map<String, HostTensor> state, NDManager manager) {
        SidModel m = new SidModel(config, manager);
        m.params.load(state, true);
        return m;
    }

    /** @return the configuration */
    public SidModelConfig config() {
        return config;
    }

    /** @return the tensors (trainable parameters and buffers) */
    public ParamStore params() {
        return params;
    }

    /** @return the state dict (every tensor, in declaration order) */
    public Map<String, HostTensor> stateDict() {
        return params.toHost();
    }

    /**
     * Sets the compute precision of the encoder and decoder (bf16: bfloat16 matrix products on
     * float32 weights; z, the levels and the outputs stay float32). Inference only: training stays
     * float32.
     *
     * @throws IllegalArgumentException for bf16 on a CPU without bfloat16 units
     */
    public void setPrecision(dev.rq.model.engine.Precision precision) {
        params.setPrecision(precision);
    }

    /** @return the residual levels (k-means initialisation, codebook export) */
    Levels levels() {
        return levels;
    }

    /**
     * @param x [B, in]
     * @return z [B, C]
     */
    public NDArray encode(NDArray x) {
        return encoder.forward(x);
    }

    /**
     * A full forward pass.
     *
     * @param x [B, in]
     * @param training usage updates, restarts (EMA codebooks: EMA updates) through {@code collective}
     */
    public Forward forward(NDArray x, boolean training, Collective collective, Rng rng) {
        NDArray z = encode(x);
        Levels.Quantized q = levels.quantize(List.of(z), training, collective, rng).get(0);
        return new Forward(z, q, decode(q.zq()));
    }

    /**
     * Quantizes micro-batches jointly (one restart and usage update per level for all of them, see
     * {@link Levels#quantize}).
     *
     * @param zs per micro-batch z [n_i, C], in global order
     */
    List<Levels.Quantized> quantize(List<NDArray> zs, boolean training, Collective collective, Rng rng) {
        return levels.quantize(zs, training, collective, rng);
    }

    /**
     * @param zq [B, C] (or z itself while the autoencoder warms up)
     * @return x̂ [B, in]
     */
    public NDArray decode(NDArray zq) {
        return decoder.forward(zq);
    }

    /** @return whether {@code key} is a tensor of the codebooks (left alone during the warm-up) */
    static boolean isQuantizer(String key) {
        return key.startsWith("quantizer.");
    }

    /**
     * Outputs of {@link #forward}.
     *
     * @param z [B, C] encoder output
     * @param quantized z_q, losses, codes [B, D], counts
     * @param recon [B, in]
     */
    public record Forward(NDArray z, Levels.Quantized quantized, NDArray recon) {}

    /**
     * The loss: {@code recon + codebook + β·commit}; recon is the mean squared error over all
     * elements, codebook and commitment are summed over levels of per-element means.
     */
    public LossTerms loss(NDArray x, Forward f) {
        NDArray recon = f.recon().sub(x).square().mean();
        NDArray commit = f.quantized().commitLoss();
        NDArray total = recon.add(Ops.scale(commit, config.commitmentWeight().floatValue()));
        NDArray cb = f.quantized().codebookLoss();
        if (cb != null) {
            total = total.add(cb);
        }
        return new LossTerms(total, recon, cb, commit);
    }

    /**
     * Loss terms (scalars).
     *
     * @param total recon + codebook + β·commit
     * @param recon mean squared reconstruction error
     * @param codebook codebook loss (null for EMA codebooks)
     * @param commit commitment loss
     */
    public record LossTerms(NDArray total, NDArray recon, NDArray codebook, NDArray commit) {}

    /** The warm-up loss: the reconstruction MSE of {@code decode(z)} alone (codebook and commit are null). */
    LossTerms warmupLoss(NDArray x, NDArray recon) {
        NDArray mse = recon.sub(x).square().mean();
        return new LossTerms(mse, mse, null, null);
    }

    /** @return the fraction of dead codes at the last training call (mean over distinct codebooks) */
    public double deadFraction() {
        return levels.deadFraction();
    }

    @Override
    public int inputDim() {
        return config.inputDim();
    }

    @Override
    public int depth() {
        return config.depth();
    }

    @Override
    public int codebookSize(int d) {
        return config.codebookSize(d);
    }

    @Override
    public int codeDim() {
        return config.latentDim();
    }

    @Override
    public NDArray codes(NDArray x) {
        NDArray z = encode(x);
        return dev.rq.model.engine.Switches.on(LEVEL_CHUNKS)
                ? Levels.codesByRows(levels, config.depth(), z, Levels.CODE_ROWS) : levels.codes(z);
    }

    /** Switch: {@code -Drq.sid.level_chunks=false} searches the levels over the whole batch at once. */
    public static final String LEVEL_CHUNKS = "rq.sid.level_chunks";

    @Override
    public NDArray reconstruct(NDArray codes) {
        return decoder.forward(levels.embedCodes(codes));
    }

    @Override
    public float[] codebook(int d) {
        return levels.codebook(d);
    }

    @Override
    public void close() {
        params.close();
    }
}
