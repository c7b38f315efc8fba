package dev.rq.model.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Stage-2 losses (official {@code compute_loss}, {@code soft_target_cross_entropy}, spec §4.5).
 * Autograd-safe: scalars are libtorch-owned tensors, never DJL Number operands.
 */
public final class Losses {

    private Losses() {}

    /**
     * Per-token negative log-likelihood of hard targets: {@code −log_softmax(logits)[target]}.
     *
     * @param logits [..., K]
     * @param targets [...] int64
     * @return [...]
     */
    public static NDArray nll(NDArray logits, NDArray targets) {
        NDArray logp = logits.logSoftmax(-1);
        NDArray t = targets.getDataType() == DataType.INT64 ? targets : targets.toType(DataType.INT64, false);
        return logp.gather(t.expandDims(-1), -1).squeeze(-1).neg();
    }

    /** Cross-entropy of hard targets, mean over all tokens ({@code F.cross_entropy}). */
    public static NDArray crossEntropy(NDArray logits, NDArray targets) {
        return nll(logits, targets).mean();
    }

    /**
     * Per-token soft-target cross-entropy {@code −Σ_k q_k·logp_k} with the official log-softmax
     * {@code logp = x − max − log(Σ exp(x − max) + 1e-7)}. The max is a constant of the gradient
     * (its exact gradient differs by O(1e-7)).
     *
     * @param logits [..., K]
     * @param targets [..., K] probabilities
     * @return [...]
     */
    public static NDArray softNll(NDArray logits, NDArray targets) {
        NDArray z = logits.sub(logits.max(new int[] {-1}, true).stopGradient());
        NDArray eps = logits.getManager().full(new Shape(), 1e-7f);
        NDArray logp = z.sub(z.exp().sum(new int[] {-1}, true).add(eps).log());
        return targets.mul(logp).sum(new int[] {-1}).neg();
    }

    /** Soft-target cross-entropy, mean over all tokens. */
    public static NDArray softCrossEntropy(NDArray logits, NDArray targets) {
        return softNll(logits, targets).mean();
    }
}
