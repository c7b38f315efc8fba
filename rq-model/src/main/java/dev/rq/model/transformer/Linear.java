package dev.rq.model.transformer;

import ai.djl.ndarray.NDArray;
import dev.rq.model.nn.Ops;
import dev.rq.model.nn.ParamStore;
import java.util.List;

/**
 * {@code torch.nn.Linear} under {@code prefix.weight} [out, in] / {@code prefix.bias} [out], with
 * PyTorch's default initialisation (U(±1/√in) for both, as the released RQ-Transformer: its
 * {@code _init_weights} is never applied, spec §4.7).
 */
final class Linear {

    final String weightKey;
    final String biasKey;
    private final ParamStore ps;

    Linear(ParamStore ps, String prefix, int in, int out, boolean bias, List<String> decayKeys) {
        this.ps = ps;
        this.weightKey = ps.declare(prefix + ".weight", new long[] {out, in}, ParamStore.Init.FAN_IN_UNIFORM, in, true);
        this.biasKey = bias ? ps.declare(prefix + ".bias", new long[] {out}, ParamStore.Init.FAN_IN_UNIFORM, in, true)
                : null;
        decayKeys.add(weightKey);
    }

    NDArray weight() {
        return ps.get(weightKey);
    }

    NDArray bias() {
        return biasKey == null ? null : ps.get(biasKey);
    }

    /** x [..., in] → [..., out]. */
    NDArray forward(NDArray x) {
        return Ops.linear(x, weight(), bias());
    }
}
