package dev.rq.model.loss;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import dev.rq.model.nn.Ops;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.safetensors.HostTensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The official LPIPS perceptual distance ({@code rqvae/losses/vqgan/lpips.py}, eval mode): a frozen
 * VGG16 feature stack with the official scaling layer and one 1×1 linear head per stage.
 *
 * <p>LPIPS(x0, x1) = Σ_k mean_{h,w} lin_k((n(f0_k) − n(f1_k))²) with s = (x − shift) / scale per
 * channel, f_k the ReLU outputs relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 of VGG16 {@code
 * features} and n(f) = f / (‖f‖₂ over channels + 1e-10). Weights use the official state-dict keys
 * ({@code scaling_layer.shift/scale}, {@code net.slice{1..5}.{i}.weight/bias} with the torchvision
 * index i, {@code lin{k}.model.1.weight}); nothing is trainable, gradients flow to the images
 * only. Pretrained weights are the user's (see docs/stage1-loss.md for the conversion); BF16 and
 * F16 tensors are upcast exactly on load.
 */
public final class Lpips implements AutoCloseable {

    /** Channels of the five VGG16 stages. */
    static final int[] CHANNELS = {64, 128, 256, 512, 512};

    /** torchvision {@code vgg16().features} indices of the convolutions, per slice. */
    static final int[][] CONVS = {{0, 2}, {5, 7}, {10, 12, 14}, {17, 19, 21}, {24, 26, 28}};

    static final float EPS = 1e-10f;

    private final ParamStore params;

    private Lpips(NDManager manager) {
        params = new ParamStore(manager);
        params.declare("scaling_layer.shift", new long[] {1, 3, 1, 1}, ParamStore.Init.ZEROS, 0, false);
        params.declare("scaling_layer.scale", new long[] {1, 3, 1, 1}, ParamStore.Init.ONES, 0, false);
        int in = 3;
        for (int s = 0; s < CONVS.length; s++) {
            for (int i : CONVS[s]) {
                String p = "net.slice" + (s + 1) + "." + i;
                params.declare(p + ".weight", new long[] {CHANNELS[s], in, 3, 3}, ParamStore.Init.ZEROS, 0, false);
                params.declare(p + ".bias", new long[] {CHANNELS[s]}, ParamStore.Init.ZEROS, 0, false);
                in = CHANNELS[s];
            }
        }
        for (int k = 0; k < CHANNELS.length; k++) {
            params.declare("lin" + k + ".model.1.weight", new long[] {1, CHANNELS[k], 1, 1}, ParamStore.Init.ZEROS, 0,
                    false);
        }
    }

    /**
     * Loads the official LPIPS state dict (every key required, no extra keys; any float dtype).
     *
     * @throws IllegalArgumentException naming missing, extra or mis-shaped tensors
     */
    public static Lpips fromStateDict(Map<String, HostTensor> state, NDManager manager) {
        Lpips l = new Lpips(manager);
        Map<String, HostTensor> f32 = new LinkedHashMap<>();
        state.forEach((k, v) -> f32.put(k, v.toF32()));
        l.params.load(f32, true);
        return l;
    }

    /**
     * Checks a state's names and shapes against the official LPIPS keys (from a file's header,
     * nothing loaded).
     *
     * @throws IllegalArgumentException naming the first mis-shaped, missing or extra tensors
     */
    public static void checkState(dev.rq.model.safetensors.SafeTensors.Header state) {
        new Lpips(null).params.checkAgainst(state, true);
    }

    /**
     * An LPIPS network with random weights (tests and benchmarks only: the real VGG16 and linear
     * heads are the user's, by URI): the official scaling constants, VGG convolutions U(±1/√fan_in),
     * non-negative heads U(0, 1/C).
     */
    public static Lpips random(NDManager manager, long seed) {
        Lpips l = new Lpips(manager);
        dev.rq.model.util.Rng rng = dev.rq.model.util.Rng.of(seed, 0x1919);
        for (Map.Entry<String, long[]> e : l.params.shapes().entrySet()) {
            long[] shape = e.getValue();
            float[] v = new float[Math.toIntExact(java.util.Arrays.stream(shape).reduce(1, (x, y) -> x * y))];
            String k = e.getKey();
            if (k.equals("scaling_layer.shift")) {
                v = new float[] {-.030f, -.088f, -.188f};
            } else if (k.equals("scaling_layer.scale")) {
                v = new float[] {.458f, .448f, .450f};
            } else {
                double bound = k.startsWith("lin") ? 1.0 / shape[1]
                        : 1.0 / Math.sqrt(k.endsWith(".bias") ? 9.0 * shape[0] : shape[1] * 9.0);
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (k.startsWith("lin") ? rng.nextDouble() * bound : (rng.nextDouble() * 2 - 1) * bound);
                }
            }
            l.params.set(k, dev.rq.model.nn.Tensors.of(manager, v, new ai.djl.ndarray.types.Shape(shape)));
        }
        return l;
    }

    /** @return the tensors under their official keys */
    public ParamStore params() {
        return params;
    }

    /**
     * Per-image distance, {@code reduction='none'}.
     *
     * @param x0 [B, 3, H, W] in [−1, 1]
     * @param x1 [B, 3, H, W] in [−1, 1]
     * @return [B, 1, 1, 1]
     */
    public NDArray distance(NDArray x0, NDArray x1) {
        return terms(x0, x1).distance();
    }

    /**
     * The distance with its per-stage terms.
     *
     * @param diffs (n(f0_k) − n(f1_k))², [B, C_k, H_k, W_k], k = 0..4
     * @param layers spatial means of lin_k(diff_k), [B, 1, 1, 1]
     * @param distance Σ_k layers_k, [B, 1, 1, 1]
     */
    public record Terms(List<NDArray> diffs, List<NDArray> layers, NDArray distance) {}

    /** @return the distance and its terms for images x0, x1 [B, 3, H, W] */
    public Terms terms(NDArray x0, NDArray x1) {
        List<NDArray> f0 = features(scale(x0));
        List<NDArray> f1 = features(scale(x1));
        List<NDArray> diffs = new ArrayList<>();
        List<NDArray> layers = new ArrayList<>();
        NDArray total = null;
        for (int k = 0; k < CHANNELS.length; k++) {
            NDArray d = normalize(f0.get(k)).sub(normalize(f1.get(k))).square(); // [B, C_k, H_k, W_k]
            NDArray w = params.get("lin" + k + ".model.1.weight");
            NDArray lin = Ops.conv2d(d, w, d.getManager().zeros(new Shape(1), w.getDataType()), 1, 0); // [B, 1, H_k, W_k]
            NDArray layer = PatchDiscriminator.mean(lin, new int[] {2, 3}); // [B, 1, 1, 1]
            diffs.add(d);
            layers.add(layer);
            total = total == null ? layer : total.add(layer);
        }
        return new Terms(diffs, layers, total);
    }

    private NDArray scale(NDArray x) {
        return x.sub(params.get("scaling_layer.shift")).div(params.get("scaling_layer.scale"));
    }

    /** @return relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 */
    private List<NDArray> features(NDArray x) {
        List<NDArray> out = new ArrayList<>(CONVS.length);
        NDArray h = x;
        for (int s = 0; s < CONVS.length; s++) {
            if (s > 0) {
                h = h.getNDArrayInternal().maxPool(new Shape(2, 2), new Shape(2, 2), new Shape(0, 0), false);
            }
            for (int i : CONVS[s]) {
                String p = "net.slice" + (s + 1) + "." + i;
                h = Activation.relu(Ops.conv2d(h, params.get(p + ".weight"), params.get(p + ".bias"), 1, 1));
            }
            out.add(h);
        }
        return out;
    }

    /** f / (‖f‖₂ over channels + 1e-10), per pixel. */
    private static NDArray normalize(NDArray f) {
        NDArray norm = f.square().sum(new int[] {1}, true).sqrt(); // [B, 1, H, W]
        return f.div(norm.add(f.getManager().full(new Shape(), EPS)));
    }

    @Override
    public void close() {
        params.close();
    }
}
