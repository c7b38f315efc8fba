package dev.rq.model.sid;

import ai.djl.ndarray.NDArray;
import dev.rq.model.nn.Ops;
import dev.rq.model.nn.ParamStore;
import java.util.ArrayList;
import java.util.List;

/**
 * A multi-layer perceptron, {@code nn.Sequential(Linear, ReLU, Linear, ReLU, …, Linear)}: tensors
 * under {@code <prefix>.<2i>.weight} [out, in] and {@code <prefix>.<2i>.bias} [out], the state-dict
 * names of that Sequential, with PyTorch's default initialisation U(±1/√in). No activation after
 * the last layer.
 */
final class Mlp {

    private final ParamStore ps;
    private final List<String[]> layers = new ArrayList<>(); // {weightKey, biasKey}

    /** @param widths [in, hidden…, out] */
    Mlp(ParamStore ps, String prefix, List<Integer> widths) {
        this.ps = ps;
        for (int i = 0; i + 1 < widths.size(); i++) {
            int in = widths.get(i);
            int out = widths.get(i + 1);
            String p = prefix + "." + (2 * i);
            layers.add(new String[] {
                ps.declare(p + ".weight", new long[] {out, in}, ParamStore.Init.FAN_IN_UNIFORM, in, true),
                ps.declare(p + ".bias", new long[] {out}, ParamStore.Init.FAN_IN_UNIFORM, in, true)});
        }
    }

    /**
     * @param x [B, in]
     * @return [B, out]
     */
    NDArray forward(NDArray x) {
        NDArray h = ps.toCompute(x); // bfloat16 when the store computes in it (ParamStore#setPrecision)
        for (int i = 0; i < layers.size(); i++) {
            h = Ops.linear(h, ps.compute(layers.get(i)[0]), ps.compute(layers.get(i)[1])); // [B, width_i+1]
            if (i + 1 < layers.size()) {
                h = h.getNDArrayInternal().relu();
            }
        }
        return h.getDataType() == ai.djl.ndarray.types.DataType.FLOAT32 ? h
                : h.toType(ai.djl.ndarray.types.DataType.FLOAT32, false); // float32 out: the quantizer's precision
    }
}
