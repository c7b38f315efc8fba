package dev.rq.model.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDScope;

/**
 * Key/value cache of one attention stack for incremental decoding (official {@code
 * cached_forward}): per block the keys and values of every position fed so far, [N, heads, T, hd].
 * Cached tensors are unregistered from any {@link NDScope}, so a per-step scope does not free
 * them; the cache closes what it replaces and {@link #close} frees the rest.
 */
public final class KvCache implements AutoCloseable {

    private final NDArray[] keys;
    private final NDArray[] values;

    /** @param layers blocks in the stack */
    public KvCache(int layers) {
        this.keys = new NDArray[layers];
        this.values = new NDArray[layers];
    }

    /** @return positions cached so far */
    public long length() {
        return keys.length == 0 || keys[0] == null ? 0 : keys[0].getShape().get(2);
    }

    /**
     * Appends new keys/values of block {@code layer} and returns all of them.
     *
     * @param k [N, heads, L, hd]
     * @param v [N, heads, L, hd]
     * @return the cached keys and values including the new ones, [N, heads, T+L, hd]
     */
    NDList append(int layer, NDArray k, NDArray v) {
        NDArray nk = keys[layer] == null ? k.duplicate() : NDArrays.concat(new NDList(keys[layer], k), 2);
        NDArray nv = values[layer] == null ? v.duplicate() : NDArrays.concat(new NDList(values[layer], v), 2);
        NDScope.unregister(nk, nv);
        if (keys[layer] != null) {
            keys[layer].close();
            values[layer].close();
        }
        keys[layer] = nk;
        values[layer] = nv;
        return new NDList(nk, nv);
    }

    /** Empties the cache. */
    public void reset() {
        for (int i = 0; i < keys.length; i++) {
            if (keys[i] != null) {
                keys[i].close();
                values[i].close();
                keys[i] = null;
                values[i] = null;
            }
        }
    }

    @Override
    public void close() {
        reset();
    }
}
