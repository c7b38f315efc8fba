package dev.rq.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.engine.Precision;
import dev.rq.model.kernels.Kernels;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.safetensors.TensorData;
import dev.rq.model.safetensors.TensorSource;
import dev.rq.model.util.Rng;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The named tensors of a model, keyed by their official PyTorch state-dict names, in declaration
 * (state-dict) order. Trainable parameters are flagged; buffers (EMA statistics, codebooks learnt
 * by EMA) are not, and the optimizer never touches them.
 *
 * <p>Modules declare their tensors once with {@link #declare}; the store initialises them with
 * PyTorch's default initialisers from a seeded {@link Rng}, so a model is reproducible from its
 * seed without libtorch's global generator.
 */
public final class ParamStore implements AutoCloseable {

    /** How a tensor is initialised. */
    public enum Init {
        /** PyTorch default for Conv/Linear weights: U(−1/√fan_in, 1/√fan_in). */
        FAN_IN_UNIFORM,
        /** All ones (norm weights). */
        ONES,
        /** All zeros (norm biases, EMA counts). */
        ZEROS,
        /** N(0, 1) (nn.Embedding default). */
        NORMAL,
        /** N(0, 0.02) (transformer positional embeddings, discriminator convolutions). */
        NORMAL_002,
        /** N(1, 0.02) (the discriminator's BatchNorm weights, official {@code weights_init}). */
        NORMAL_ONE_002
    }

    /**
     * A declared tensor.
     *
     * @param trainable a parameter the optimizer updates (false: a buffer)
     * @param decay the optimizer applies weight decay to it ({@code train.weight_decay}); the
     *     module that declares a tensor knows what it is (a Linear weight decays, its bias, a norm
     *     or an embedding does not in the minGPT split that stage 2 uses)
     */
    public record Spec(String key, long[] shape, Init init, long fanIn, boolean trainable, boolean decay) {}

    private final NDManager manager;
    private final Map<String, Spec> specs = new LinkedHashMap<>();
    private final Map<String, NDArray> values = new LinkedHashMap<>();
    private volatile Precision precision = Precision.FP32;
    /** Compute-precision copies of the tensors while {@link #freeze frozen} (bfloat16 only). */
    private final Map<String, NDArray> frozenCasts = new java.util.concurrent.ConcurrentHashMap<>();
    /** Open {@link #freeze} scopes, all threads; guarded by {@code this}. */
    private int frozen;
    /** Open {@link #freeze} scopes of the calling thread (only a holder uses the copies). */
    private final ThreadLocal<int[]> frozenHere = ThreadLocal.withInitial(() -> new int[1]);

    public ParamStore(NDManager manager) {
        this.manager = manager;
    }

    /** @return the manager owning the tensors */
    public NDManager manager() {
        return manager;
    }

    /**
     * Declares a tensor; a trainable one is weight-decayed (as {@code torch.optim.Adam(
     * model.parameters(), weight_decay=…)} does for every parameter, the official stage-1 optimizer).
     * Declaring the same key twice is an error.
     *
     * @param fanIn the fan-in used by {@link Init#FAN_IN_UNIFORM} (ignored otherwise)
     */
    public String declare(String key, long[] shape, Init init, long fanIn, boolean trainable) {
        return declare(key, shape, init, fanIn, trainable, trainable);
    }

    /** As {@link #declare(String, long[], Init, long, boolean)}, saying whether weight decay applies. */
    public String declare(String key, long[] shape, Init init, long fanIn, boolean trainable, boolean decay) {
        if (specs.containsKey(key)) {
            throw new IllegalStateException("duplicate parameter " + key);
        }
        if (decay && !trainable) {
            throw new IllegalArgumentException("buffer " + key + " cannot be weight-decayed");
        }
        specs.put(key, new Spec(key, shape, init, fanIn, trainable, decay));
        return key;
    }

    /** Initialises every declared tensor from {@code rng} in declaration order. */
    public void initialize(Rng rng) {
        for (Spec s : specs.values()) {
            int n = Math.toIntExact(numel(s.shape));
            float[] v = new float[n];
            switch (s.init) {
                case FAN_IN_UNIFORM -> {
                    double bound = 1.0 / Math.sqrt(s.fanIn);
                    for (int i = 0; i < n; i++) {
                        v[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
                    }
                }
                case ONES -> Arrays.fill(v, 1f);
                case ZEROS -> {}
                case NORMAL -> {
                    for (int i = 0; i < n; i++) {
                        v[i] = (float) rng.nextGaussian();
                    }
                }
                case NORMAL_002 -> {
                    for (int i = 0; i < n; i++) {
                        v[i] = (float) (0.02 * rng.nextGaussian());
                    }
                }
                case NORMAL_ONE_002 -> {
                    for (int i = 0; i < n; i++) {
                        v[i] = (float) (1 + 0.02 * rng.nextGaussian());
                    }
                }
            }
            set(s.key, Tensors.of(manager, v, new Shape(s.shape)));
        }
    }

    /** Replaces the value of a declared tensor (shape-checked). */
    public void set(String key, NDArray value) {
        Spec s = spec(key);
        if (!Arrays.equals(s.shape, value.getShape().getShape())) {
            throw new IllegalArgumentException("tensor " + key + " has shape " + value.getShape()
                    + ", expected " + Arrays.toString(s.shape));
        }
        value.attach(manager);
        NDArray cast = frozenCasts.remove(key);
        if (cast != null) {
            cast.close();
        }
        NDArray old = values.put(key, value);
        if (s.trainable) {
            value.setRequiresGradient(true);
        }
        if (old != null && old != value) {
            old.close();
        }
    }

    /** @return the tensor {@code key} */
    public NDArray get(String key) {
        NDArray v = values.get(key);
        if (v == null) {
            throw new IllegalArgumentException("no tensor " + key);
        }
        return v;
    }

    /**
     * The tensor {@code key} in the compute precision: itself in float32; in bfloat16 a cast copy
     * made at each call, through which gradients reach the float32 master tensor, or, while the
     * store is {@link #freeze frozen}, one copy made at the first call and reused.
     */
    public NDArray compute(String key) {
        NDArray v = get(key);
        if (precision != Precision.BF16) {
            return v;
        }
        if (frozenHere.get()[0] == 0) {
            return Kernels.toBf16(v);
        }
        return frozenCasts.computeIfAbsent(key, k -> {
            NDArray c = Kernels.toBf16(v); // belongs to the store's manager
            NDScope.unregister(c); // outlives the caller's scope; closed when the last freeze ends
            return c;
        });
    }

    /**
     * The tensor {@code key} for a kernel that casts it to the compute precision itself ({@code
     * ResBlockKernels}): the held copy that {@link #compute} returns while this thread has the store
     * {@link #freeze frozen} in bfloat16, otherwise the stored tensor (float32).
     */
    public NDArray computeOrStored(String key) {
        return precision == Precision.BF16 && frozenHere.get()[0] > 0 ? compute(key) : get(key);
    }

    /**
     * Declares that no tensor changes until the returned scope is closed (inference: sampling,
     * tokenizing), so that {@link #compute} may cast each weight to the compute precision once
     * instead of at every call: an autoregressive sampler calls every layer once per code, and
     * re-casting all weights each time cost more than bfloat16 saved. Scopes nest and may be held
     * by several threads; the copies are released when the last one closes. Never hold one across
     * an optimizer step. Close it on the thread that opened it.
     */
    public Frozen freeze() {
        synchronized (this) {
            frozen++;
        }
        frozenHere.get()[0]++;
        return new Frozen(true);
    }

    /**
     * Keeps the copies that {@link #freeze} scopes make alive between those scopes, until the
     * returned handle is closed (on any thread): for a model that only runs inference while it is
     * held (the tokenize job's, a benchmark's tokenize loop), so that each call's own {@code freeze}
     * reuses the bfloat16 weights instead of casting every weight again. It does not make any
     * thread use the copies by itself; never hold it across an optimizer step.
     */
    public Frozen holdFrozenCasts() {
        synchronized (this) {
            frozen++;
        }
        return new Frozen(false);
    }

    /** An open {@link #freeze} scope (or a {@link #holdFrozenCasts} handle). */
    public final class Frozen implements AutoCloseable {
        private final boolean here;
        private boolean closed;

        private Frozen(boolean here) {
            this.here = here;
        }

        @Override
        public void close() {
            synchronized (ParamStore.this) {
                if (closed) {
                    return;
                }
                closed = true;
                if (here) {
                    frozenHere.get()[0]--;
                }
                if (--frozen == 0) {
                    frozenCasts.values().forEach(NDArray::close);
                    frozenCasts.clear();
                }
            }
        }
    }

    /** @return the compute precision of the layers using this store */
    public Precision precision() {
        return precision;
    }

    /**
     * Sets the compute precision of the layers using this store (the stored tensors stay float32).
     *
     * @throws IllegalArgumentException for bfloat16 on a CPU without bfloat16 units
     */
    public void setPrecision(Precision precision) {
        if (!manager.getDevice().isGpu()) {
            precision.requireSupportedOnCpu();
        }
        this.precision = precision;
    }

    /** @return {@code x} in the compute precision (cast to bfloat16 when that is it) */
    public NDArray toCompute(NDArray x) {
        return precision == Precision.BF16 ? Kernels.toBf16(x) : x;
    }

    /** @return the declaration of {@code key} */
    public Spec spec(String key) {
        Spec s = specs.get(key);
        if (s == null) {
            throw new IllegalArgumentException("unknown parameter " + key);
        }
        return s;
    }

    /** @return every declared key with its shape, in declaration order (no tensor needs to exist) */
    public Map<String, long[]> shapes() {
        Map<String, long[]> out = new LinkedHashMap<>();
        specs.forEach((k, s) -> out.put(k, s.shape().clone()));
        return out;
    }

    /** @return all keys in declaration order */
    public List<String> keys() {
        return new ArrayList<>(specs.keySet());
    }

    /** @return the trainable keys in declaration order */
    public List<String> trainableKeys() {
        return specs.values().stream().filter(Spec::trainable).map(Spec::key).toList();
    }

    /** @return the trainable tensors by key, in declaration order */
    public Map<String, NDArray> trainable() {
        Map<String, NDArray> out = new LinkedHashMap<>();
        for (String k : trainableKeys()) {
            out.put(k, get(k));
        }
        return out;
    }

    /** @return the number of trainable scalars */
    public long trainableCount() {
        return specs.values().stream().filter(Spec::trainable).mapToLong(s -> numel(s.shape)).sum();
    }

    /**
     * Loads tensors from a host state dict: every declared key must be present with its declared
     * shape; extra keys are reported.
     *
     * @param strict fail on keys of {@code state} that are not declared
     */
    public void load(Map<String, HostTensor> state, boolean strict) {
        try {
            load(TensorSource.of(state), strict);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e); // cannot happen in memory
        }
    }

    /**
     * Loads tensors from a stream of tensors (a safetensors file), one at a time: names and shapes
     * are checked against the declarations from the header, before any data is read; each tensor
     * is copied to the engine (as float32) as it arrives, so loading needs about one copy of the
     * weights.
     *
     * @param strict fail on keys of {@code state} that are not declared
     * @throws IllegalArgumentException naming the first missing, unexpected or mismatching key
     */
    public void load(TensorSource state, boolean strict) throws java.io.IOException {
        state.read(new TensorSource.Reader() {
            @Override
            public java.util.function.Predicate<String> begin(SafeTensors.Header header) {
                checkAgainst(header, strict);
                return specs::containsKey;
            }

            @Override
            public void tensor(String key, HostTensor t) {
                NDArray a = t.toNDArray(manager);
                set(key, a.getDataType() == ai.djl.ndarray.types.DataType.FLOAT32 ? a
                        : a.toType(ai.djl.ndarray.types.DataType.FLOAT32, false));
            }
        });
    }

    /**
     * Checks a state's names and shapes against the declarations: the first declared key whose
     * shape differs is named, then the missing keys, then (strict) the undeclared ones.
     */
    public void checkAgainst(SafeTensors.Header state, boolean strict) {
        List<String> missing = new ArrayList<>();
        for (Spec s : specs.values()) {
            SafeTensors.Entry t = state.entry(s.key);
            if (t == null) {
                missing.add(s.key);
                continue;
            }
            if (!Arrays.equals(t.shape(), s.shape)) {
                throw new IllegalArgumentException("tensor " + s.key + " has shape " + Arrays.toString(t.shape())
                        + " in the state dict, but the config gives " + Arrays.toString(s.shape));
            }
        }
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("state dict lacks " + missing.size() + " tensors: " + missing);
        }
        if (strict) {
            List<String> extra = state.keys().stream().filter(k -> !specs.containsKey(k)).toList();
            if (!extra.isEmpty()) {
                throw new IllegalArgumentException("state dict has unexpected tensors: " + extra);
            }
        }
    }

    /**
     * @return every tensor as a view that is copied to the host only when written or hashed, in
     *     declaration order (streaming saves and weight hashes hold one tensor at a time)
     */
    public Map<String, TensorData> tensors() {
        Map<String, TensorData> out = new LinkedHashMap<>();
        for (String k : specs.keySet()) {
            out.put(k, TensorData.of(get(k)));
        }
        return out;
    }

    /** @return every tensor copied to the host, in declaration order */
    public Map<String, HostTensor> toHost() {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (String k : specs.keySet()) {
            out.put(k, HostTensor.of(get(k)));
        }
        return out;
    }

    static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    @Override
    public void close() {
        values.values().forEach(NDArray::close);
        values.clear();
    }
}
