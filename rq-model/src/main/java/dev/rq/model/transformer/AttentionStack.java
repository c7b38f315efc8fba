package dev.rq.model.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.IValue;
import dev.rq.model.config.TransformerConfig;
import dev.rq.model.engine.Switches;
import dev.rq.model.kernels.Kernels;
import dev.rq.model.nn.LayerNorm;
import dev.rq.model.nn.ParamStore;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/** {@code AttentionStack}: {@code prefix.blocks.{i}} in sequence, no final LayerNorm. */
final class AttentionStack {

    private final List<AttentionBlock> blocks = new ArrayList<>();
    private final Rope2d rope; // null: no rotary encoding

    /** @param rope the rotary encoding of every block's queries and keys, or null */
    AttentionStack(ParamStore ps, String prefix, int dim, TransformerConfig.Stack c, Rope2d rope) {
        for (int i = 0; i < c.nLayer(); i++) {
            blocks.add(new AttentionBlock(ps, prefix + ".blocks." + i, dim, c.block()));
        }
        this.rope = rope;
    }

    int layers() {
        return blocks.size();
    }

    /**
     * @param x [N, L, D] new positions
     * @param cache null: the whole sequence is x (causal); else x follows {@code cache.length()}
     *     cached positions and is appended to the cache
     */
    NDArray forward(NDArray x, Dropout dropout, KvCache cache) {
        if (blocks.isEmpty()) {
            return x;
        }
        int len = (int) x.getShape().get(1);
        if (cache != null && len == 1 && dropout == null && fusedStep()) {
            return cachedStep(x, cache);
        }
        int past = cache == null ? 0 : (int) cache.length();
        NDManager m = x.getManager();
        NDArray mask = len == 1 ? null : AttentionBlock.causalMask(m, past, len);
        NDList rot = rope == null ? null : rope.rows(past, len); // positions past .. past+len-1
        for (int i = 0; i < blocks.size(); i++) {
            x = blocks.get(i).forward(x, mask, past == 0, dropout, cache, i, rot);
        }
        return x;
    }

    /**
     * @return whether a single new position of a cached stack (KV-cached sampling) runs as one
     *     native call ({@link Kernels#cachedStackStep}, bit-identical to the block-by-block path)
     *     instead of ~40 DJL calls per block. {@code -Drq.sample.fused_step=false} (read at each call)
     *     keeps the block-by-block path, to compare.
     */
    boolean fusedStep() {
        return Switches.on("rq.sample.fused_step") && blocks.stream().allMatch(AttentionBlock::stepFusable);
    }

    /** @param x [N, 1, D] float32, one new position after the cached ones */
    private NDArray cachedStep(NDArray x, KvCache cache) {
        AttentionBlock b0 = blocks.get(0);
        IValue[] in = stepInputs(x, cache, rope == null ? NDList::new : rope::all);
        return Kernels.cachedStackStep(x, in[0], in[1], in[2], cache.advance(), b0.heads() * b0.headDim(),
                b0.heads(), b0.scale(), LayerNorm.EPS, b0.exactGelu(), rope != null);
    }

    /**
     * One code of a depth stack with its token before and classifier after, in one native call
     * ({@link Kernels#depthStep}); requires {@link #fusedStep}.
     *
     * @param x [N, D] context (d = 0) or [N, C] partial embedding sum (d &gt; 0)
     * @param extras the tensors {@link Kernels#depthStep} takes after the stack's (the same at every call)
     * @return logits [N, K] float32
     */
    NDArray depthStep(NDArray x, int d, KvCache cache, Supplier<NDList> extras) {
        AttentionBlock b0 = blocks.get(0);
        IValue[] in = stepInputs(x, cache, extras);
        return Kernels.depthStep(x, d, in[0], in[1], in[2], cache.advance(), b0.heads() * b0.headDim(), b0.heads(),
                b0.scale(), LayerNorm.EPS, b0.exactGelu());
    }

    /**
     * @param x [N, ...] the step's input (its batch size sizes the buffers)
     * @return the cache's TorchScript lists, made once per cache: every block's step tensors followed
     *     by {@code extras}, then the key buffers and the value buffers (in the compute dtype)
     */
    private IValue[] stepInputs(NDArray x, KvCache cache, Supplier<NDList> extras) {
        AttentionBlock b0 = blocks.get(0);
        IValue w = cache.stepWeights(() -> {
            NDList all = new NDList();
            for (int i = 0; i < blocks.size(); i++) {
                all.addAll(blocks.get(i).stepWeights(cache, i));
            }
            all.addAll(extras.get());
            return all;
        });
        IValue[] kv = cache.stepBuffers(x.getShape().get(0), b0.heads(), b0.headDim(),
                () -> b0.stepWeights(cache, 0).get(2));
        return new IValue[] {w, kv[0], kv[1]};
    }
}
