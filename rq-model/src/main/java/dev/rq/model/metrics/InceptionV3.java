package dev.rq.model.metrics;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.nn.Ops;
import dev.rq.model.nn.Tensors;
import dev.rq.model.util.Rng;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The FID Inception V3 network exactly as the official {@code InceptionWrapper(InceptionV3([3]))}
 * of {@code rqvae/metrics/fid.py} (pytorch-fid's {@code fid_inception_v3}, the TensorFlow 2015-12-05
 * graph ported to PyTorch), in eval mode.
 *
 * <p>Forward ({@link #features}): images {@code x: [B, 3, H, W]} in [0, 1], any H and W → bilinear
 * resize to 299×299 ({@code align_corners=False}, no antialiasing) → {@code 2x − 1} → block 0
 * (Conv2d_1a_3x3, 2a, 2b, 3×3 max pool stride 2) → block 1 (Conv2d_3b_1x1, 4a, max pool) → block 2
 * (Mixed_5b/5c/5d = A, Mixed_6a = B, Mixed_6b..6e = C) → block 3 (Mixed_7a = D, Mixed_7b = E with
 * average pool, Mixed_7c = E with MAX pool) → global average pool → {@code [B, 2048]}, the features
 * of FID and rFID. {@link #logits} applies the 1008-way {@code fc} (Inception Score).
 *
 * <p>Every convolution is pytorch-fid's {@code BasicConv2d}: conv without bias → BatchNorm (eval:
 * running statistics, eps 1e-3) → ReLU. The BatchNorm is folded into the convolution when the
 * weights are loaded ({@code w·γ/√(σ²+ε)}, bias {@code β − μ·γ/√(σ²+ε)}, computed in float64): one
 * op instead of two, identical up to float32 rounding. The average pools inside the A, C and E
 * blocks exclude the padding ({@code count_include_pad=False}), as in the FID network.
 *
 * <p>The resize side is 299 (the FID protocol) unless {@link #fromStateDict(Map, NDManager, int)}
 * names another one (at least {@link #MIN_SIZE}); features at another side are not FID features:
 * that is for smoke tests on small machines (a 75×75 forward costs about 1/16 of a 299×299 one).
 *
 * <p>Weights: {@link #fromStateDict} takes either the wrapper's keys ({@code blocks.0.0.conv.weight},
 * …, {@code fc.weight}) or torchvision's Inception3 keys of pytorch-fid's {@code
 * pt_inception-2015-12-05-6726825d.pth} ({@code Conv2d_1a_3x3.conv.weight}, {@code Mixed_5b.…},
 * {@code fc.weight}); {@code num_batches_tracked} entries are ignored. Nothing is downloaded.
 */
public final class InceptionV3 implements AutoCloseable {

    /** Feature dimension (pool3). */
    public static final int FEATURES = 2048;
    /** Classes of the {@code fc} layer (the 2015 graph's 1008 outputs). */
    public static final int CLASSES = 1008;
    /** Input side after the resize (the FID protocol). */
    public static final int SIZE = 299;
    /** The smallest resize side the network takes (its last blocks then work on 1×1 maps). */
    public static final int MIN_SIZE = 75;
    /** BatchNorm epsilon of the FID network. */
    public static final double BN_EPS = 1e-3;

    /** Wrapper block prefixes ↔ torchvision Inception3 module names, in forward order. */
    private static final String[][] MODULES = {
        {"blocks.0.0", "Conv2d_1a_3x3"}, {"blocks.0.1", "Conv2d_2a_3x3"}, {"blocks.0.2", "Conv2d_2b_3x3"},
        {"blocks.1.0", "Conv2d_3b_1x1"}, {"blocks.1.1", "Conv2d_4a_3x3"},
        {"blocks.2.0", "Mixed_5b"}, {"blocks.2.1", "Mixed_5c"}, {"blocks.2.2", "Mixed_5d"}, {"blocks.2.3", "Mixed_6a"},
        {"blocks.2.4", "Mixed_6b"}, {"blocks.2.5", "Mixed_6c"}, {"blocks.2.6", "Mixed_6d"}, {"blocks.2.7", "Mixed_6e"},
        {"blocks.3.0", "Mixed_7a"}, {"blocks.3.1", "Mixed_7b"}, {"blocks.3.2", "Mixed_7c"},
    };

    /** One {@code BasicConv2d}: its official prefix and geometry. */
    record ConvSpec(String prefix, int in, int out, int kh, int kw, int stride, int ph, int pw) {}

    /** A BasicConv2d with the BatchNorm folded in. */
    private record FoldedConv(NDArray weight, NDArray bias, Shape stride, Shape pad) {}

    private static final List<ConvSpec> SPECS = specs();

    private final NDManager manager;
    private final int size;
    private final Map<String, FoldedConv> convs = new LinkedHashMap<>();
    private final Map<Integer, NDArray> padFactors = new java.util.HashMap<>(); // H·10⁴ + W → [1, 1, H, W]
    private final NDArray fcWeight; // [1008, 2048]
    private final NDArray fcBias; // [1008]

    private InceptionV3(NDManager manager, Map<String, HostTensor> state, int size) {
        if (size < MIN_SIZE) {
            throw new IllegalArgumentException("the Inception resize side must be at least " + MIN_SIZE + ", got " + size);
        }
        this.manager = manager.newSubManager();
        this.size = size;
        for (ConvSpec s : SPECS) {
            convs.put(s.prefix(), fold(s, state));
        }
        for (int side : blockSides(size)) { // the map sizes of the A, C and E blocks (35, 17, 8 at 299×299)
            padFactors.put(side * 10_000 + side, padFactor(side, side));
        }
        this.fcWeight = tensor(state, "fc.weight", CLASSES, FEATURES);
        this.fcBias = tensor(state, "fc.bias", CLASSES);
    }

    /**
     * Builds the network from a state dict (wrapper or torchvision key names, see the class
     * comment). Every tensor must be present with its shape; unknown keys are an error.
     *
     * @param state the weights; F32 (or F64/F16, converted)
     * @param manager owns the network's tensors (a sub-manager is used)
     */
    public static InceptionV3 fromStateDict(Map<String, HostTensor> state, NDManager manager) {
        return fromStateDict(state, manager, SIZE);
    }

    /**
     * As {@link #fromStateDict(Map, NDManager)}, resizing the images to {@code size}×{@code size}
     * instead of 299×299 (not the FID protocol: see the class comment).
     *
     * @param size the resize side, at least {@link #MIN_SIZE}
     */
    public static InceptionV3 fromStateDict(Map<String, HostTensor> state, NDManager manager, int size) {
        return new InceptionV3(manager, checkStateDict(state), size);
    }

    /** @return the feature-map sides of the A, C and E blocks for a {@code size}×{@code size} input */
    static int[] blockSides(int size) {
        int n = (size - 3) / 2 + 1; // Conv2d_1a_3x3, stride 2
        n = n - 2; // Conv2d_2a_3x3 (2b keeps the size)
        n = (n - 3) / 2 + 1; // max pool
        n = n - 2; // Conv2d_4a_3x3
        int a = (n - 3) / 2 + 1; // max pool
        int c = (a - 3) / 2 + 1; // Mixed_6a
        int e = (c - 3) / 2 + 1; // Mixed_7a
        return new int[] {a, c, e};
    }

    /** @return the resize side (299 unless built for a smoke test) */
    public int size() {
        return size;
    }

    /**
     * Checks that {@code state} holds exactly the network's tensors (either naming) with their
     * shapes, without building the network.
     *
     * @return the state dict with wrapper key names
     * @throws IllegalArgumentException naming the missing, unexpected or misshapen tensors
     */
    public static Map<String, HostTensor> checkStateDict(Map<String, HostTensor> state) {
        Map<String, HostTensor> s = wrapperKeys(state);
        List<String> unknown = new ArrayList<>();
        List<String> known = expectedKeys();
        java.util.Set<String> knownSet = new java.util.HashSet<>(known);
        for (String k : s.keySet()) {
            if (!knownSet.contains(k) && !k.endsWith(".num_batches_tracked")) {
                unknown.add(k);
            }
        }
        List<String> missing = known.stream().filter(k -> !s.containsKey(k)).toList();
        if (!missing.isEmpty() || !unknown.isEmpty()) {
            throw new IllegalArgumentException("not an FID Inception state dict: "
                    + (missing.isEmpty() ? "" : missing.size() + " tensors missing " + head(missing) + " ")
                    + (unknown.isEmpty() ? "" : unknown.size() + " unexpected tensors " + head(unknown)));
        }
        for (ConvSpec c : SPECS) {
            shape(s, c.prefix() + ".conv.weight", c.out(), c.in(), c.kh(), c.kw());
            for (String b : List.of("weight", "bias", "running_mean", "running_var")) {
                shape(s, c.prefix() + ".bn." + b, c.out());
            }
        }
        shape(s, "fc.weight", CLASSES, FEATURES);
        shape(s, "fc.bias", CLASSES);
        return s;
    }

    private static void shape(Map<String, HostTensor> state, String key, long... shape) {
        if (!java.util.Arrays.equals(state.get(key).shape(), shape)) {
            throw new IllegalArgumentException("Inception tensor " + key + " has shape "
                    + java.util.Arrays.toString(state.get(key).shape()) + ", expected "
                    + java.util.Arrays.toString(shape));
        }
    }

    private static String head(List<String> keys) {
        return keys.size() <= 5 ? keys.toString() : keys.subList(0, 5) + "…";
    }

    /** @return the state dict with torchvision module names renamed to the wrapper's block names */
    static Map<String, HostTensor> wrapperKeys(Map<String, HostTensor> state) {
        if (!state.containsKey("Conv2d_1a_3x3.conv.weight")) {
            return state;
        }
        Map<String, HostTensor> out = new LinkedHashMap<>();
        state.forEach((k, v) -> {
            String key = k;
            for (String[] m : MODULES) {
                if (k.startsWith(m[1] + ".")) {
                    key = m[0] + k.substring(m[1].length());
                    break;
                }
            }
            out.put(key, v);
        });
        return out;
    }

    /** @return every key the network needs (wrapper naming, {@code num_batches_tracked} excluded) */
    public static List<String> expectedKeys() {
        List<String> keys = new ArrayList<>();
        for (ConvSpec s : SPECS) {
            keys.add(s.prefix() + ".conv.weight");
            for (String b : List.of("weight", "bias", "running_mean", "running_var")) {
                keys.add(s.prefix() + ".bn." + b);
            }
        }
        keys.add("fc.weight");
        keys.add("fc.bias");
        return keys;
    }

    /**
     * Random weights in the official layout, for tests and benchmarks (the real ones cannot be
     * downloaded): He-uniform convolutions, BatchNorm γ ~ 1 ± 0.1, β ~ ±0.1, running mean ~ ±0.1,
     * running variance in [0.5, 1.5], so activations keep their scale through all 94 layers.
     * Values are rounded to bfloat16 precision, like the official test fixtures.
     */
    public static Map<String, HostTensor> randomStateDict(long seed) {
        Rng rng = Rng.of(seed, 0x1ACE);
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (ConvSpec s : SPECS) {
            int fanIn = s.in() * s.kh() * s.kw();
            double bound = Math.sqrt(6.0 / fanIn); // He-uniform: variance 2 / fan_in
            float[] w = new float[s.out() * fanIn];
            for (int i = 0; i < w.length; i++) {
                w[i] = bf16(bound * (2 * rng.nextDouble() - 1));
            }
            out.put(s.prefix() + ".conv.weight", HostTensor.ofFloats(w, s.out(), s.in(), s.kh(), s.kw()));
            float[] g = new float[s.out()];
            float[] b = new float[s.out()];
            float[] mean = new float[s.out()];
            float[] var = new float[s.out()];
            for (int c = 0; c < s.out(); c++) {
                g[c] = bf16(1 + 0.1 * (2 * rng.nextDouble() - 1));
                b[c] = bf16(0.1 * (2 * rng.nextDouble() - 1));
                mean[c] = bf16(0.1 * (2 * rng.nextDouble() - 1));
                var[c] = bf16(0.5 + rng.nextDouble());
            }
            out.put(s.prefix() + ".bn.weight", HostTensor.ofFloats(g, s.out()));
            out.put(s.prefix() + ".bn.bias", HostTensor.ofFloats(b, s.out()));
            out.put(s.prefix() + ".bn.running_mean", HostTensor.ofFloats(mean, s.out()));
            out.put(s.prefix() + ".bn.running_var", HostTensor.ofFloats(var, s.out()));
        }
        float[] fw = new float[CLASSES * FEATURES];
        for (int i = 0; i < fw.length; i++) {
            fw[i] = bf16((2 * rng.nextDouble() - 1) * Math.sqrt(3.0 / FEATURES));
        }
        float[] fb = new float[CLASSES];
        for (int i = 0; i < fb.length; i++) {
            fb[i] = bf16(0.1 * rng.nextGaussian());
        }
        out.put("fc.weight", HostTensor.ofFloats(fw, CLASSES, FEATURES));
        out.put("fc.bias", HostTensor.ofFloats(fb, CLASSES));
        return out;
    }

    private static float bf16(double v) {
        return Float.intBitsToFloat(Float.floatToIntBits((float) v) & 0xffff0000);
    }

    /**
     * The 2048-d pool features of FID.
     *
     * @param x images [B, 3, H, W], values in [0, 1]
     * @return [B, 2048]
     */
    public NDArray features(NDArray x) {
        long h = x.getShape().get(2);
        long w = x.getShape().get(3);
        if (h != size || w != size) { // F.interpolate to the same size is the identity
            x = x.getNDArrayInternal().interpolation(new long[] {size, size}, 1 /* DJL: bilinear */, false);
        }
        x = Ops.scale(x, 2f).sub(1f); // [0, 1] → [−1, 1]
        // block 0
        x = conv("blocks.0.0", x); // [B, 32, 149, 149]
        x = conv("blocks.0.1", x); // [B, 32, 147, 147]
        x = conv("blocks.0.2", x); // [B, 64, 147, 147]
        x = maxPool(x, 2, 0); // [B, 64, 73, 73]
        // block 1
        x = conv("blocks.1.0", x); // [B, 80, 73, 73]
        x = conv("blocks.1.1", x); // [B, 192, 71, 71]
        x = maxPool(x, 2, 0); // [B, 192, 35, 35]
        // block 2
        x = mixedA("blocks.2.0", x); // [B, 256, 35, 35]
        x = mixedA("blocks.2.1", x); // [B, 288, 35, 35]
        x = mixedA("blocks.2.2", x); // [B, 288, 35, 35]
        x = mixedB("blocks.2.3", x); // [B, 768, 17, 17]
        for (int i = 4; i <= 7; i++) {
            x = mixedC("blocks.2." + i, x); // [B, 768, 17, 17]
        }
        // block 3
        x = mixedD("blocks.3.0", x); // [B, 1280, 8, 8]
        x = mixedE("blocks.3.1", x, false); // [B, 2048, 8, 8]
        x = mixedE("blocks.3.2", x, true); // [B, 2048, 8, 8]
        return x.getNDArrayInternal().globalAvgPool().reshape(x.getShape().get(0), FEATURES); // [B, 2048]
    }

    /**
     * The 1008-way logits of the Inception Score ({@code get_logits}: dropout is the identity in
     * eval mode).
     *
     * @param features [B, 2048] from {@link #features}
     * @return [B, 1008]
     */
    public NDArray logits(NDArray features) {
        return Ops.linear(features, fcWeight, fcBias);
    }

    /** Mixed_5b/5c/5d (FIDInceptionA). */
    private NDArray mixedA(String p, NDArray x) {
        NDArray b1 = conv(p + ".branch1x1", x);
        NDArray b5 = conv(p + ".branch5x5_2", conv(p + ".branch5x5_1", x));
        NDArray b3 = conv(p + ".branch3x3dbl_3", conv(p + ".branch3x3dbl_2", conv(p + ".branch3x3dbl_1", x)));
        NDArray bp = conv(p + ".branch_pool", avgPoolExcludingPad(x));
        return cat(b1, b5, b3, bp);
    }

    /** Mixed_6a (InceptionB). */
    private NDArray mixedB(String p, NDArray x) {
        NDArray b3 = conv(p + ".branch3x3", x);
        NDArray bd = conv(p + ".branch3x3dbl_3", conv(p + ".branch3x3dbl_2", conv(p + ".branch3x3dbl_1", x)));
        return cat(b3, bd, maxPool(x, 2, 0));
    }

    /** Mixed_6b..6e (FIDInceptionC). */
    private NDArray mixedC(String p, NDArray x) {
        NDArray b1 = conv(p + ".branch1x1", x);
        NDArray b7 = conv(p + ".branch7x7_3", conv(p + ".branch7x7_2", conv(p + ".branch7x7_1", x)));
        NDArray bd = x;
        for (int i = 1; i <= 5; i++) {
            bd = conv(p + ".branch7x7dbl_" + i, bd);
        }
        NDArray bp = conv(p + ".branch_pool", avgPoolExcludingPad(x));
        return cat(b1, b7, bd, bp);
    }

    /** Mixed_7a (InceptionD). */
    private NDArray mixedD(String p, NDArray x) {
        NDArray b3 = conv(p + ".branch3x3_2", conv(p + ".branch3x3_1", x));
        NDArray b7 = x;
        for (int i = 1; i <= 4; i++) {
            b7 = conv(p + ".branch7x7x3_" + i, b7);
        }
        return cat(b3, b7, maxPool(x, 2, 0));
    }

    /** Mixed_7b (FIDInceptionE_1, average pool) and Mixed_7c (FIDInceptionE_2, max pool). */
    private NDArray mixedE(String p, NDArray x, boolean maxPoolBranch) {
        NDArray b1 = conv(p + ".branch1x1", x);
        NDArray b3 = conv(p + ".branch3x3_1", x);
        b3 = cat(conv(p + ".branch3x3_2a", b3), conv(p + ".branch3x3_2b", b3));
        NDArray bd = conv(p + ".branch3x3dbl_2", conv(p + ".branch3x3dbl_1", x));
        bd = cat(conv(p + ".branch3x3dbl_3a", bd), conv(p + ".branch3x3dbl_3b", bd));
        NDArray pooled = maxPoolBranch ? maxPool(x, 1, 1) : avgPoolExcludingPad(x);
        NDArray bp = conv(p + ".branch_pool", pooled);
        return cat(b1, b3, bd, bp);
    }

    /** BasicConv2d with the folded BatchNorm, then ReLU. */
    private NDArray conv(String prefix, NDArray x) {
        FoldedConv c = convs.get(prefix);
        NDArray y = x.getNDArrayInternal()
                .convolution(x, c.weight(), c.bias(), c.stride(), c.pad(), new Shape(1, 1), 1)
                .singletonOrThrow();
        return y.getNDArrayInternal().relu();
    }

    /** 3×3 max pool. */
    private static NDArray maxPool(NDArray x, int stride, int pad) {
        return x.getNDArrayInternal().maxPool(new Shape(3, 3), new Shape(stride, stride), new Shape(pad, pad), false);
    }

    /**
     * 3×3 average pool, stride 1, padding 1, {@code count_include_pad=False}: the window sum over
     * the cells inside the image divided by their count (4 in corners, 6 on edges, 9 inside).
     * DJL's {@code avgPool} ignores its {@code countIncludePad} flag (always includes the
     * padding), so the including average is rescaled by 9/count, a per-position factor computed
     * once per feature-map size.
     */
    private NDArray avgPoolExcludingPad(NDArray x) {
        NDArray sum9 = x.getNDArrayInternal().avgPool(new Shape(3, 3), new Shape(1, 1), new Shape(1, 1), false, true);
        return sum9.mul(padFactors.get((int) x.getShape().get(2) * 10_000 + (int) x.getShape().get(3)));
    }

    /** @return [1, 1, H, W]: 9 / (cells of the 3×3 window inside an H×W map) */
    private NDArray padFactor(int h, int w) {
        float[] f = new float[h * w];
        for (int i = 0; i < h; i++) {
            for (int j = 0; j < w; j++) {
                int rows = (i > 0 ? 1 : 0) + 1 + (i < h - 1 ? 1 : 0);
                int cols = (j > 0 ? 1 : 0) + 1 + (j < w - 1 ? 1 : 0);
                f[i * w + j] = 9f / (rows * cols);
            }
        }
        return Tensors.of(manager, f, new Shape(1, 1, h, w));
    }

    private FoldedConv fold(ConvSpec s, Map<String, HostTensor> state) {
        float[] w = floats(state, s.prefix() + ".conv.weight", s.out(), s.in(), s.kh(), s.kw());
        float[] g = floats(state, s.prefix() + ".bn.weight", s.out());
        float[] b = floats(state, s.prefix() + ".bn.bias", s.out());
        float[] mean = floats(state, s.prefix() + ".bn.running_mean", s.out());
        float[] var = floats(state, s.prefix() + ".bn.running_var", s.out());
        int per = s.in() * s.kh() * s.kw();
        float[] fw = new float[w.length];
        float[] fb = new float[s.out()];
        for (int o = 0; o < s.out(); o++) {
            double k = g[o] / Math.sqrt(var[o] + BN_EPS);
            for (int i = 0; i < per; i++) {
                fw[o * per + i] = (float) (w[o * per + i] * k);
            }
            fb[o] = (float) (b[o] - mean[o] * k);
        }
        return new FoldedConv(Tensors.of(manager, fw, new Shape(s.out(), s.in(), s.kh(), s.kw())),
                Tensors.of(manager, fb), new Shape(s.stride(), s.stride()), new Shape(s.ph(), s.pw()));
    }

    private NDArray tensor(Map<String, HostTensor> state, String key, long... shape) {
        return Tensors.of(manager, floats(state, key, shape), new Shape(shape));
    }

    private static float[] floats(Map<String, HostTensor> state, String key, long... shape) {
        HostTensor t = state.get(key);
        if (!java.util.Arrays.equals(t.shape(), shape)) {
            throw new IllegalArgumentException("Inception tensor " + key + " has shape "
                    + java.util.Arrays.toString(t.shape()) + ", expected " + java.util.Arrays.toString(shape));
        }
        return t.toFloats();
    }

    /** The 94 BasicConv2d layers in forward order. */
    private static List<ConvSpec> specs() {
        List<ConvSpec> l = new ArrayList<>();
        l.add(new ConvSpec("blocks.0.0", 3, 32, 3, 3, 2, 0, 0));
        l.add(new ConvSpec("blocks.0.1", 32, 32, 3, 3, 1, 0, 0));
        l.add(new ConvSpec("blocks.0.2", 32, 64, 3, 3, 1, 1, 1));
        l.add(new ConvSpec("blocks.1.0", 64, 80, 1, 1, 1, 0, 0));
        l.add(new ConvSpec("blocks.1.1", 80, 192, 3, 3, 1, 0, 0));
        int[][] a = {{192, 32}, {256, 64}, {288, 64}};
        for (int i = 0; i < 3; i++) {
            String p = "blocks.2." + i;
            int in = a[i][0];
            l.add(new ConvSpec(p + ".branch1x1", in, 64, 1, 1, 1, 0, 0));
            l.add(new ConvSpec(p + ".branch5x5_1", in, 48, 1, 1, 1, 0, 0));
            l.add(new ConvSpec(p + ".branch5x5_2", 48, 64, 5, 5, 1, 2, 2));
            l.add(new ConvSpec(p + ".branch3x3dbl_1", in, 64, 1, 1, 1, 0, 0));
            l.add(new ConvSpec(p + ".branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1));
            l.add(new ConvSpec(p + ".branch3x3dbl_3", 96, 96, 3, 3, 1, 1, 1));
            l.add(new ConvSpec(p + ".branch_pool", in, a[i][1], 1, 1, 1, 0, 0));
        }
        l.add(new ConvSpec("blocks.2.3.branch3x3", 288, 384, 3, 3, 2, 0, 0));
        l.add(new ConvSpec("blocks.2.3.branch3x3dbl_1", 288, 64, 1, 1, 1, 0, 0));
        l.add(new ConvSpec("blocks.2.3.branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1));
        l.add(new ConvSpec("blocks.2.3.branch3x3dbl_3", 96, 96, 3, 3, 2, 0, 0));
        int[] c7s = {128, 160, 160, 192};
        for (int i = 0; i < 4; i++) {
            String p = "blocks.2." + (4 + i);
            int c7 = c7s[i];
            l.add(new ConvSpec(p + ".branch1x1", 768, 192, 1, 1, 1, 0, 0));
            l.add(new ConvSpec(p + ".branch7x7_1", 768, c7, 1, 1, 1, 0, 0));
            l.add(new ConvSpec(p + ".branch7x7_2", c7, c7, 1, 7, 1, 0, 3));
            l.add(new ConvSpec(p + ".branch7x7_3", c7, 192, 7, 1, 1, 3, 0));
            l.add(new ConvSpec(p + ".branch7x7dbl_1", 768, c7, 1, 1, 1, 0, 0));
            l.add(new ConvSpec(p + ".branch7x7dbl_2", c7, c7, 7, 1, 1, 3, 0));
            l.add(new ConvSpec(p + ".branch7x7dbl_3", c7, c7, 1, 7, 1, 0, 3));
            l.add(new ConvSpec(p + ".branch7x7dbl_4", c7, c7, 7, 1, 1, 3, 0));
            l.add(new ConvSpec(p + ".branch7x7dbl_5", c7, 192, 1, 7, 1, 0, 3));
            l.add(new ConvSpec(p + ".branch_pool", 768, 192, 1, 1, 1, 0, 0));
        }
        l.add(new ConvSpec("blocks.3.0.branch3x3_1", 768, 192, 1, 1, 1, 0, 0));
        l.add(new ConvSpec("blocks.3.0.branch3x3_2", 192, 320, 3, 3, 2, 0, 0));
        l.add(new ConvSpec("blocks.3.0.branch7x7x3_1", 768, 192, 1, 1, 1, 0, 0));
        l.add(new ConvSpec("blocks.3.0.branch7x7x3_2", 192, 192, 1, 7, 1, 0, 3));
        l.add(new ConvSpec("blocks.3.0.branch7x7x3_3", 192, 192, 7, 1, 1, 3, 0));
        l.add(new ConvSpec("blocks.3.0.branch7x7x3_4", 192, 192, 3, 3, 2, 0, 0));
        int[] e = {1280, 2048};
        for (int i = 0; i < 2; i++) {
            String p = "blocks.3." + (1 + i);
            l.add(new ConvSpec(p + ".branch1x1", e[i], 320, 1, 1, 1, 0, 0));
            l.add(new ConvSpec(p + ".branch3x3_1", e[i], 384, 1, 1, 1, 0, 0));
            l.add(new ConvSpec(p + ".branch3x3_2a", 384, 384, 1, 3, 1, 0, 1));
            l.add(new ConvSpec(p + ".branch3x3_2b", 384, 384, 3, 1, 1, 1, 0));
            l.add(new ConvSpec(p + ".branch3x3dbl_1", e[i], 448, 1, 1, 1, 0, 0));
            l.add(new ConvSpec(p + ".branch3x3dbl_2", 448, 384, 3, 3, 1, 1, 1));
            l.add(new ConvSpec(p + ".branch3x3dbl_3a", 384, 384, 1, 3, 1, 0, 1));
            l.add(new ConvSpec(p + ".branch3x3dbl_3b", 384, 384, 3, 1, 1, 1, 0));
            l.add(new ConvSpec(p + ".branch_pool", e[i], 192, 1, 1, 1, 0, 0));
        }
        return List.copyOf(l);
    }

    @Override
    public void close() {
        manager.close();
    }

    /** Concatenation on the channel axis: [B, Cᵢ, H, W]… → [B, ΣCᵢ, H, W]. */
    private static NDArray cat(NDArray... parts) {
        return ai.djl.ndarray.NDArrays.concat(new NDList(parts), 1);
    }
}
