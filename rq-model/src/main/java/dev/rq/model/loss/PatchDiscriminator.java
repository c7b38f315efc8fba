package dev.rq.model.loss;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import dev.rq.model.config.DiscConfig;
import dev.rq.model.nn.Ops;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.util.Rng;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The official PatchGAN discriminator {@code NLayerDiscriminator} ({@code
 * rqvae/losses/vqgan/discriminator.py}, {@code use_actnorm=False}), keys {@code main.{i}.*} as in
 * the official {@code Sequential} (every conv, norm and activation counts as an index).
 *
 * <p>x [B, in, H, W] → Conv(in, ndf, 4, s2, p1, bias), LeakyReLU(0.2); for n = 1..L−1:
 * Conv(ndf·m(n−1), ndf·m(n), 4, s2, p1), BatchNorm, LeakyReLU; Conv(ndf·m(L−1), ndf·m(L), 4, s1,
 * p1), BatchNorm, LeakyReLU; Conv(ndf·m(L), 1, 4, s1, p1, bias) → logits [B, 1, H', W'], with m(n)
 * = min(2ⁿ, 8) and L = {@code num_layers}.
 *
 * <p>BatchNorm (eps 1e-5, momentum 0.1): {@link Mode#EVAL} uses the running statistics; the
 * train modes normalise with the batch mean and biased variance over (B, H, W), and {@link
 * Mode#TRAIN} also updates {@code running = 0.9·running + 0.1·batch} with the unbiased variance and
 * counts {@code num_batches_tracked}. Initialisation: the official {@code weights_init} (conv
 * weights N(0, 0.02), BatchNorm weights N(1, 0.02), BatchNorm biases 0, conv biases PyTorch's
 * default).
 */
public final class PatchDiscriminator implements AutoCloseable {

    static final float BN_EPS = 1e-5f;
    static final float BN_MOMENTUM = 0.1f;
    static final float SLOPE = 0.2f;

    /** How BatchNorm behaves in a forward pass. */
    public enum Mode {
        /** Running statistics, nothing updated. */
        EVAL,
        /** Batch statistics, running statistics updated (PyTorch's {@code train()}). */
        TRAIN,
        /** Batch statistics, running statistics left alone. */
        TRAIN_NO_STATS
    }

    private record Layer(String conv, int stride, boolean bias, String norm, boolean act) {}

    /** Batch statistics of the train-mode forward passes since the last {@link #takeBatchStatistics}. */
    private final List<NDArray> recorded = new ArrayList<>();

    private final ParamStore params;
    private final List<Layer> layers = new ArrayList<>();
    private final Map<String, NDArray> zeroBias = new LinkedHashMap<>();

    private PatchDiscriminator(DiscConfig config, NDManager manager) {
        params = new ParamStore(manager);
        int i = 0;
        int ndf = config.ndf();
        i = conv(i, config.inChannels(), ndf, 2, true, false);
        int prev = ndf;
        for (int n = 1; n <= config.numLayers(); n++) {
            int out = ndf * Math.min(1 << n, 8);
            i = conv(i, prev, out, n < config.numLayers() ? 2 : 1, false, true);
            prev = out;
        }
        conv(i, prev, 1, 1, true, false);
    }

    /** Declares conv (+ BatchNorm) (+ LeakyReLU) at Sequential index i; returns the next index. */
    private int conv(int i, int in, int out, int stride, boolean bias, boolean norm) {
        boolean last = out == 1;
        String c = "main." + i;
        params.declare(c + ".weight", new long[] {out, in, 4, 4}, ParamStore.Init.NORMAL_002, 0, true);
        if (bias) {
            params.declare(c + ".bias", new long[] {out}, ParamStore.Init.FAN_IN_UNIFORM, (long) in * 16, true);
        } else {
            zeroBias.put(c, params.manager().zeros(new Shape(out)));
        }
        i++;
        String n = null;
        if (norm) {
            n = "main." + i;
            params.declare(n + ".weight", new long[] {out}, ParamStore.Init.NORMAL_ONE_002, 0, true);
            params.declare(n + ".bias", new long[] {out}, ParamStore.Init.ZEROS, 0, true);
            params.declare(n + ".running_mean", new long[] {out}, ParamStore.Init.ZEROS, 0, false);
            params.declare(n + ".running_var", new long[] {out}, ParamStore.Init.ONES, 0, false);
            params.declare(n + ".num_batches_tracked", new long[] {}, ParamStore.Init.ZEROS, 0, false);
            i++;
        }
        layers.add(new Layer(c, stride, bias, n, !last));
        return i + 1; // the activation's index (nothing follows the last conv)
    }

    /** A freshly initialised discriminator (official {@code weights_init}, seeded). */
    public static PatchDiscriminator create(DiscConfig config, NDManager manager, long seed) {
        PatchDiscriminator d = new PatchDiscriminator(config, manager);
        d.params.initialize(Rng.of(seed, 0xD15C));
        return d;
    }

    /** Loads an official {@code NLayerDiscriminator} state dict (every key, nothing else). */
    public static PatchDiscriminator fromStateDict(DiscConfig config, Map<String, HostTensor> state,
            NDManager manager) {
        PatchDiscriminator d = new PatchDiscriminator(config, manager);
        d.params.load(state, true);
        return d;
    }

    /** Loads an official state dict streamed one tensor at a time (a checkpoint's discriminator file). */
    public static PatchDiscriminator fromState(DiscConfig config, dev.rq.model.safetensors.TensorSource state,
            NDManager manager) throws java.io.IOException {
        PatchDiscriminator d = new PatchDiscriminator(config, manager);
        d.params.load(state, true);
        return d;
    }

    /** @return the official state dict ({@code num_batches_tracked} as int64 scalars) */
    public Map<String, HostTensor> stateDict() {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        params.toHost().forEach((k, v) -> out.put(k, k.endsWith(".num_batches_tracked")
                ? HostTensor.ofLongs(new long[] {(long) v.toFloats()[0]}) : v));
        return out;
    }

    /** @return the parameters and BatchNorm buffers */
    public ParamStore params() {
        return params;
    }

    /**
     * @param x [B, in, H, W]
     * @return logits [B, 1, H', W'] (H' = H/2^(L) − 2 for the default padding)
     */
    public NDArray forward(NDArray x, Mode mode) {
        return forward(x, mode, false);
    }

    /**
     * {@link #forward} with the weights held fixed: gradients flow to {@code x} only (through the
     * batch statistics too), the parameters' {@code .grad} stay untouched (the generator phase).
     */
    public NDArray forwardFrozen(NDArray x, Mode mode) {
        return forward(x, mode, true);
    }

    private NDArray forward(NDArray x, Mode mode, boolean frozen) {
        NDArray h = x;
        for (Layer l : layers) {
            NDArray b = l.bias ? param(l.conv + ".bias", frozen) : zeroBias.get(l.conv);
            h = Ops.conv2d(h, param(l.conv + ".weight", frozen), b, l.stride, 1);
            if (l.norm != null) {
                h = batchNorm(h, l.norm, mode, frozen);
            }
            if (l.act) {
                h = Activation.leakyRelu(h, SLOPE);
            }
        }
        return h;
    }

    /** BatchNorm2d over (B, H, W) per channel; x [B, C, H, W]. */
    private NDArray param(String key, boolean frozen) {
        return frozen ? params.get(key).stopGradient() : params.get(key);
    }

    private NDArray batchNorm(NDArray x, String p, Mode mode, boolean frozen) {
        long c = x.getShape().get(1);
        NDManager m = x.getManager();
        NDArray mean;
        NDArray var;
        if (mode == Mode.EVAL) {
            mean = params.get(p + ".running_mean").reshape(1, c, 1, 1);
            var = params.get(p + ".running_var").reshape(1, c, 1, 1);
        } else {
            mean = mean(x, new int[] {0, 2, 3}); // [1, C, 1, 1]
            var = mean(x.sub(mean).square(), new int[] {0, 2, 3}); // biased
            long n = x.getShape().size() / c;
            NDArray bm = mean.stopGradient().reshape(c);
            NDArray bv = Ops.scale(var.stopGradient().reshape(c), (float) n / (n - 1)); // unbiased
            if (mode == Mode.TRAIN) {
                update(p + ".running_mean", bm);
                update(p + ".running_var", bv);
                NDArray t = params.get(p + ".num_batches_tracked");
                params.set(p + ".num_batches_tracked", t.add(m.ones(new Shape())));
            } else {
                recorded.add(bm);
                recorded.add(bv);
            }
        }
        NDArray normed = x.sub(mean).div(var.add(m.full(new Shape(), BN_EPS)).sqrt());
        return normed.mul(param(p + ".weight", frozen).reshape(1, c, 1, 1))
                .add(param(p + ".bias", frozen).reshape(1, c, 1, 1));
    }

    /** @return the number of floats one train-mode forward records: mean and unbiased variance per BatchNorm */
    public int batchStatisticsSize() {
        int n = 0;
        for (Layer l : layers) {
            if (l.norm != null) {
                n += 2 * (int) params.spec(l.norm + ".running_mean").shape()[0];
            }
        }
        return n;
    }

    /**
     * @return the batch statistics of the {@link Mode#TRAIN_NO_STATS} forward passes since the
     *     last call, in call order: per call and BatchNorm layer the batch mean and the unbiased
     *     batch variance ({@link #batchStatisticsSize} floats per call)
     */
    public float[] takeBatchStatistics() {
        float[] out = new float[recorded.stream().mapToInt(a -> (int) a.size()).sum()];
        int off = 0;
        for (NDArray a : recorded) {
            float[] v = a.toFloatArray();
            System.arraycopy(v, 0, out, off, v.length);
            off += v.length;
        }
        recorded.clear();
        return out;
    }

    /**
     * Updates the running statistics with batch statistics in the layout of {@link
     * #takeBatchStatistics}, one momentum update per recorded call in order, exactly as {@link
     * Mode#TRAIN} forwards with those statistics would have ({@code num_batches_tracked} counts
     * each call).
     */
    public void updateRunningStatistics(float[] stats) {
        int size = batchStatisticsSize();
        if (size == 0 || stats.length % size != 0) {
            throw new IllegalArgumentException(stats.length + " batch statistics are not calls of " + size);
        }
        NDManager m = params.manager();
        int off = 0;
        for (int call = 0; call < stats.length / size; call++) {
            for (Layer l : layers) {
                if (l.norm == null) {
                    continue;
                }
                int c = (int) params.spec(l.norm + ".running_mean").shape()[0];
                for (String buffer : new String[] {".running_mean", ".running_var"}) {
                    float[] v = new float[c];
                    System.arraycopy(stats, off, v, 0, c);
                    off += c;
                    // in place (the buffers outlive any NDScope of the caller), the arithmetic of update()
                    NDArray batch = dev.rq.model.nn.Tensors.of(m, v, new Shape(c));
                    params.get(l.norm + buffer).muli(1 - BN_MOMENTUM).addi(Ops.scale(batch, BN_MOMENTUM));
                    batch.close();
                }
                params.get(l.norm + ".num_batches_tracked").addi(1f);
            }
        }
    }

    /** @return the mean over {@code axes}, kept as size-1 axes (DJL's mean takes one axis) */
    static NDArray mean(NDArray x, int[] axes) {
        long n = 1;
        for (int a : axes) {
            n *= x.getShape().get(a);
        }
        return Ops.scale(x.sum(axes, true), 1f / n);
    }

    private void update(String key, NDArray batch) {
        NDArray r = params.get(key);
        params.set(key, Ops.scale(r, 1 - BN_MOMENTUM).add(Ops.scale(batch, BN_MOMENTUM)));
    }

    @Override
    public void close() {
        params.close();
    }
}
