package dev.rq.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;

/**
 * {@code torch.nn.Linear} under {@code prefix.weight} [out, in] / {@code prefix.bias} [out], with
 * PyTorch's default initialisation (U(±1/√in) for both, as the released RQ-Transformer: its
 * {@code _init_weights} is never applied, spec §4.7). The weight is weight-decayed, the bias is
 * not (the minGPT split).
 */
public final class Linear {

    private final String weightKey;
    private final String biasKey;
    private final ParamStore ps;

    public Linear(ParamStore ps, String prefix, int in, int out, boolean bias) {
        this.ps = ps;
        this.weightKey = ps.declare(prefix + ".weight", new long[] {out, in}, ParamStore.Init.FAN_IN_UNIFORM, in,
                true, true);
        this.biasKey = bias ? ps.declare(prefix + ".bias", new long[] {out}, ParamStore.Init.FAN_IN_UNIFORM, in,
                true, false) : null;
    }

    /** @return the weight [out, in] */
    public NDArray weight() {
        return ps.get(weightKey);
    }

    /** @return the bias [out], or null */
    public NDArray bias() {
        return biasKey == null ? null : ps.get(biasKey);
    }

    /** @return the weight and, if any, the bias in the compute precision ({@link ParamStore#compute}) */
    public NDList computeTensors() {
        NDList l = new NDList(ps.compute(weightKey));
        if (biasKey != null) {
            l.add(ps.compute(biasKey));
        }
        return l;
    }

    /** x [..., in] → [..., out] in the compute precision ({@link ParamStore#compute}). */
    public NDArray forward(NDArray x) {
        return Ops.affine(ps.toCompute(x), ps.compute(weightKey), biasKey == null ? null : ps.compute(biasKey));
    }
}
