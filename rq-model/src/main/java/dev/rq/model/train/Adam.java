package dev.rq.model.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.rq.model.kernels.TensorLists;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.safetensors.TensorData;
import dev.rq.model.safetensors.TensorSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Adam / AdamW with exactly {@code torch.optim.Adam(W)}'s update (non-amsgrad, non-fused):
 *
 * <pre>
 * g += wd·p                                  (Adam, L2 form)   | p *= 1 − lr·wd   (AdamW, decoupled)
 * m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
 * p −= lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε)
 * </pre>
 *
 * State (m, v per parameter, step t) is kept on the parameters' device and can be saved as
 * host tensors under {@code exp_avg.<key>} / {@code exp_avg_sq.<key>}. With sharded optimizer state
 * ({@code train.shard_optimizer_state}, {@link OptimizerShards}) an instance holds and updates the
 * moments of the parameters this rank owns only; it still knows every parameter's shape, to check a
 * checkpoint's header.
 */
public final class Adam {

    /**
     * Whether updates run as one libtorch loop over all tensors ({@link TensorLists#adam}, the
     * default; bit-identical) instead of ~13 DJL calls per tensor ({@code -Drq.adam.lists=false},
     * kept to compare).
     */
    static final boolean LISTS = !"false".equals(System.getProperty("rq.adam.lists"));

    private final List<String> keys;
    private final Map<String, long[]> shapes = new LinkedHashMap<>();
    private final Map<String, NDArray> m = new LinkedHashMap<>();
    private final Map<String, NDArray> v = new LinkedHashMap<>();
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final boolean decoupled;
    private long step;

    /**
     * @param params the parameters to optimise, by key
     * @param decoupled AdamW (decoupled weight decay) instead of Adam's L2 term
     */
    public Adam(Map<String, NDArray> params, NDManager manager, double beta1, double beta2, double eps,
            double weightDecay, boolean decoupled) {
        this(params, k -> true, manager, beta1, beta2, eps, weightDecay, decoupled);
    }

    /**
     * An optimizer of the parameters {@code owned} accepts: moments are allocated, updated, saved and
     * restored for those only ({@link #update} reads no other key).
     *
     * @param params all parameters of the group, by key (their shapes check a restored state)
     */
    public Adam(Map<String, NDArray> params, Predicate<String> owned, NDManager manager, double beta1, double beta2,
            double eps, double weightDecay, boolean decoupled) {
        List<String> mine = new ArrayList<>();
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            shapes.put(e.getKey(), e.getValue().getShape().getShape());
            if (owned.test(e.getKey())) {
                mine.add(e.getKey());
                m.put(e.getKey(), manager.zeros(e.getValue().getShape()));
                v.put(e.getKey(), manager.zeros(e.getValue().getShape()));
            }
        }
        this.keys = List.copyOf(mine);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.decoupled = decoupled;
    }

    /** @return steps taken so far */
    public long step() {
        return step;
    }

    /** @return bytes of the moments this instance holds (m and v of its own parameters) */
    public long stateBytes() {
        long b = 0;
        for (String k : keys) {
            b += m.get(k).size() * m.get(k).getDataType().getNumOfBytes() * 2;
        }
        return b;
    }

    /**
     * Applies one update in place (call with autograd off).
     *
     * @param params parameters by key (the owned keys at least; others are not touched)
     * @param grads gradients by key
     * @param lr learning rate of this step
     */
    public void update(Map<String, NDArray> params, Map<String, NDArray> grads, double lr) {
        update(params, grads, lr, LISTS);
    }

    /** {@link #update(Map, Map, double)} through the list loop or the per-tensor DJL calls (tests compare them). */
    void update(Map<String, NDArray> params, Map<String, NDArray> grads, double lr, boolean lists) {
        step++;
        float bc1 = (float) (1 - Math.pow(beta1, step));
        float bc2Sqrt = (float) Math.sqrt(1 - Math.pow(beta2, step));
        float stepSize = (float) (lr / bc1);
        if (lists) {
            List<NDArray> ps = new ArrayList<>(keys.size());
            List<NDArray> gs = new ArrayList<>(keys.size());
            List<NDArray> ms = new ArrayList<>(keys.size());
            List<NDArray> vs = new ArrayList<>(keys.size());
            for (String k : keys) {
                ps.add(params.get(k));
                gs.add(grads.get(k));
                ms.add(m.get(k));
                vs.add(v.get(k));
            }
            TensorLists.adam(ps, gs, ms, vs, lr, weightDecay, decoupled, beta1, beta2, eps, bc2Sqrt, stepSize);
            return;
        }
        for (String k : keys) {
            NDArray p = params.get(k);
            NDArray g = grads.get(k);
            if (weightDecay != 0) {
                if (decoupled) {
                    p.muli((float) (1 - lr * weightDecay));
                } else {
                    g = g.add(p.mul((float) weightDecay));
                }
            }
            NDArray mk = m.get(k);
            NDArray vk = v.get(k);
            mk.muli((float) beta1).addi(g.mul((float) (1 - beta1)));
            vk.muli((float) beta2).addi(g.square().muli((float) (1 - beta2)));
            NDArray denom = vk.sqrt().divi(bc2Sqrt).addi((float) eps);
            p.subi(mk.div(denom).muli(stepSize));
        }
    }

    /**
     * @return the state ({@code exp_avg.<key>}, {@code exp_avg_sq.<key>}) as views of the live
     *     moments, copied to the host one tensor at a time when written: write them before the
     *     next {@link #update} (a background writer must copy them first)
     */
    public Map<String, TensorData> state() {
        Map<String, TensorData> out = new LinkedHashMap<>();
        for (String k : keys) {
            out.put("exp_avg." + k, TensorData.of(m.get(k)));
            out.put("exp_avg_sq." + k, TensorData.of(v.get(k)));
        }
        return out;
    }

    /** @return this instance's first ({@code exp_avg}) or second moment of {@code key} (an owned key) */
    NDArray moment(String key, boolean first) {
        return (first ? m : v).get(key);
    }

    /** Restores state written by {@link #state()} (the moments of this instance's parameters) and the step count. */
    public void load(Map<String, HostTensor> state, long steps) {
        try {
            restore(TensorSource.of(state), steps, this);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // cannot happen in memory
        }
    }

    /**
     * Restores the state of several optimizers from one stream of tensors (an {@code
     * optimizer.safetensors} written from their merged {@link #state()}s), one tensor at a time:
     * every moment must be present with its parameter's shape (checked from the header, before any
     * data is read); each is copied to its parameter's device as it arrives.
     *
     * @throws IllegalArgumentException naming the first missing or mismatching moment
     */
    public static void restore(TensorSource source, long steps, Adam... optimizers) throws IOException {
        Map<String, Adam> owner = new LinkedHashMap<>(); // every moment of every group, to check the header
        for (Adam a : optimizers) {
            for (String k : a.shapes.keySet()) {
                owner.put("exp_avg." + k, a);
                owner.put("exp_avg_sq." + k, a);
            }
        }
        source.read(new TensorSource.Reader() {
            @Override
            public Predicate<String> begin(SafeTensors.Header header) {
                for (Map.Entry<String, Adam> e : owner.entrySet()) {
                    SafeTensors.Entry t = header.entry(e.getKey());
                    String key = e.getKey().substring(e.getKey().indexOf('.') + 1);
                    if (t == null) {
                        throw new IllegalArgumentException("optimizer state lacks moments of " + key);
                    }
                    long[] want = e.getValue().shapes.get(key);
                    if (!Arrays.equals(t.shape(), want)) {
                        throw new IllegalArgumentException("optimizer state " + e.getKey() + " has shape "
                                + Arrays.toString(t.shape()) + ", the parameter has " + Arrays.toString(want));
                    }
                }
                // only the moments of this rank's parameters are kept (all of them unsharded): the others are skipped
                return name -> owner.containsKey(name) && owner.get(name).m.containsKey(
                        name.substring(name.indexOf('.') + 1));
            }

            @Override
            public void tensor(String name, HostTensor t) {
                put(name, t::toNDArray);
            }

            @Override
            public void tensor(SafeTensors.Entry e, java.nio.ByteBuffer data) { // a ranged read: no heap copy
                put(e.name(), m -> dev.rq.model.nn.Tensors.own(
                        m.create(data, new ai.djl.ndarray.types.Shape(e.shape()), e.dtype().djl)));
            }

            /** Replaces moment {@code name} by the tensor {@code make} creates with its manager. */
            private void put(String name, java.util.function.Function<NDManager, NDArray> make) {
                Adam a = owner.get(name);
                String key = name.substring(name.indexOf('.') + 1);
                Map<String, NDArray> moments = name.startsWith("exp_avg.") ? a.m : a.v;
                NDArray old = moments.get(key);
                moments.put(key, replace(old, make.apply(old.getManager())));
            }
        });
        for (Adam a : optimizers) {
            a.step = steps;
        }
    }

    private static NDArray replace(NDArray old, NDArray fresh) {
        if (!old.getShape().equals(fresh.getShape())) {
            throw new IllegalArgumentException("optimizer state shape " + fresh.getShape() + " != " + old.getShape());
        }
        old.close();
        return fresh;
    }
}
