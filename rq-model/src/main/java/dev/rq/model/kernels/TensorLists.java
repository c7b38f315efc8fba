package dev.rq.model.kernels;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;
import java.util.List;

/**
 * Loops over lists of tensors run inside libtorch, one native call per list instead of several
 * per tensor (the optimizer touches every parameter tensor ~13 times per step; each DJL call costs
 * a JNI crossing, a Java handle and its manager bookkeeping). Each loop applies exactly the
 * operators of the per-tensor Java code it replaces, in the same order and with the same float32
 * scalars, so the results are bit-identical to it.
 */
public final class TensorLists {

    private TensorLists() {}

    /**
     * Per tensor, {@code torch.sum(torch.square(x))} in float32: the same values as {@code
     * x.square().sum().getFloat()} for each {@code x}, in one call.
     *
     * @param xs float32 tensors of any shapes
     * @return one sum of squares per tensor, in order
     */
    public static float[] squaredSums(List<NDArray> xs) {
        if (xs.isEmpty()) {
            return new float[0];
        }
        ScriptFunction f = Kernels.function("list_squared_sums", () -> ScriptFunction.compile("list_squared_sums",
                "xs: List[Tensor]", "return torch.stack([torch.sum(torch.square(x)) for x in xs])"));
        PtNDManager manager = (PtNDManager) xs.get(0).getManager();
        try (IValue in = tensors(xs); IValue out = f.callIValues(in); PtNDArray t = out.toTensor(manager)) {
            return t.toFloatArray();
        }
    }

    /**
     * One Adam / AdamW update of every tensor of a group, in place (autograd off), exactly as the
     * per-tensor code of {@code dev.rq.model.train.Adam}: optional decay {@code p *= 1 − lr·wd}
     * (AdamW) or {@code g += wd·p} (Adam), then {@code m = β1·m + (1−β1)·g}, {@code v = β2·v +
     * (1−β2)·g²}, {@code p −= (m / (√v / bc2Sqrt + eps))·stepSize}. Scalars are float32 values.
     *
     * @param params parameters (float32), updated in place
     * @param grads their gradients, same shapes (read only)
     * @param m first moments, updated in place
     * @param v second moments, updated in place
     * @param lr learning rate of this step
     * @param weightDecay decay coefficient wd (0: none)
     * @param decoupled AdamW ({@code p *= 1 − lr·wd}) instead of Adam's L2 term ({@code g += wd·p})
     * @param bc2Sqrt {@code √(1 − β2^t)}
     * @param stepSize {@code lr / (1 − β1^t)}
     */
    public static void adam(List<NDArray> params, List<NDArray> grads, List<NDArray> m, List<NDArray> v,
            double lr, double weightDecay, boolean decoupled, double beta1, double beta2, double eps, float bc2Sqrt,
            float stepSize) {
        int n = params.size();
        if (grads.size() != n || m.size() != n || v.size() != n) {
            throw new IllegalArgumentException("adam: " + n + " parameters, " + grads.size() + " gradients, "
                    + m.size() + " / " + v.size() + " moments");
        }
        if (n == 0) {
            return;
        }
        ScriptFunction f = Kernels.function("list_adam", () -> ScriptFunction.compile("list_adam",
                "ps: List[Tensor], gs: List[Tensor], ms: List[Tensor], vs: List[Tensor], s: List[float]",
                String.join("\n",
                        "for i in range(len(ps)):",
                        "    p = ps[i]",
                        "    g = gs[i]",
                        "    if s[0] == 1.:",
                        "        p0 = torch.mul_(p, s[1])",
                        "    elif s[0] == 2.:",
                        "        g = torch.add(g, torch.mul(p, s[2]))",
                        "    m0 = torch.add_(torch.mul_(ms[i], s[3]), torch.mul(g, s[4]))",
                        "    v0 = torch.add_(torch.mul_(vs[i], s[5]), torch.mul_(torch.square(g), s[6]))",
                        "    denom = torch.add_(torch.div_(torch.sqrt(vs[i]), s[7]), s[8])",
                        "    p1 = torch.sub_(p, torch.mul_(torch.div(ms[i], denom), s[9]))",
                        "return torch.empty([0])")));
        double mode = weightDecay == 0 ? 0 : decoupled ? 1 : 2;
        // the float32 scalars of the per-tensor code, each cast from double as it casts them
        double[] s = {mode, (float) (1 - lr * weightDecay), (float) weightDecay, (float) beta1, (float) (1 - beta1),
            (float) beta2, (float) (1 - beta2), bc2Sqrt, (float) eps, stepSize};
        try (IValue ps = tensors(params); IValue gs = tensors(grads); IValue ms = tensors(m); IValue vs = tensors(v);
                IValue sc = IValue.listFrom(s); IValue out = f.callIValues(ps, gs, ms, vs, sc)) {
            // the updates happened in place
        }
    }

    private static IValue tensors(List<NDArray> xs) {
        PtNDArray[] a = new PtNDArray[xs.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = (PtNDArray) xs.get(i);
        }
        return IValue.listFrom(a);
    }
}
