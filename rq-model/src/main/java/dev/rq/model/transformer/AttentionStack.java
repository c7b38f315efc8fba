package dev.rq.model.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.rq.model.config.TransformerConfig;
import dev.rq.model.nn.ParamStore;
import java.util.ArrayList;
import java.util.List;

/** {@code AttentionStack}: {@code prefix.blocks.{i}} in sequence, no final LayerNorm. */
final class AttentionStack {

    private final List<AttentionBlock> blocks = new ArrayList<>();

    AttentionStack(ParamStore ps, String prefix, int dim, TransformerConfig.Stack c) {
        for (int i = 0; i < c.nLayer(); i++) {
            blocks.add(new AttentionBlock(ps, prefix + ".blocks." + i, dim, c.block()));
        }
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
        int past = cache == null ? 0 : (int) cache.length();
        NDManager m = x.getManager();
        NDArray mask = len == 1 ? null : AttentionBlock.causalMask(m, past, len);
        for (int i = 0; i < blocks.size(); i++) {
            x = blocks.get(i).forward(x, mask, past == 0, dropout, cache, i);
        }
        return x;
    }
}
