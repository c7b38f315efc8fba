package dev.rq.model.sid;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.config.SidModelConfig;
import dev.rq.model.kernels.Kernels;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.nn.Tensors;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Residual k-means (RQ-KMeans), the usual semantic-ID baseline without an encoder: level d's
 * codebook holds the k-means centroids of the residuals {@code x − Σ_{j<d} c_j(x)} left by the
 * levels before it; codes are nearest centroids level by level; the reconstruction is the sum of
 * the chosen centroids. Fitted by {@link dev.rq.model.quantizer.KMeans} (the rq-kmeans training
 * stage). Tensors: {@code quantizer.codebooks.<d>.weight} [K_d, input_dim].
 */
public final class RqKMeans implements SidCoder {

    private final SidModelConfig config;
    private final NDManager manager;
    private final NDArray[] codebooks; // [K_d, C]
    private final NDArray[] norms; // [1, K_d]

    private RqKMeans(SidModelConfig config, NDManager manager, float[][] centroids) {
        this.config = config;
        this.manager = manager.newSubManager();
        int d = config.depth();
        if (centroids.length != d) {
            throw new IllegalArgumentException("rq-kmeans needs " + d + " codebooks, got " + centroids.length);
        }
        this.codebooks = new NDArray[d];
        this.norms = new NDArray[d];
        for (int l = 0; l < d; l++) {
            int k = config.codebookSize(l);
            if (centroids[l].length != k * config.inputDim()) {
                throw new IllegalArgumentException("codebook " + l + " must be [" + k + ", " + config.inputDim()
                        + "], got " + centroids[l].length + " values");
            }
            codebooks[l] = Tensors.of(this.manager, centroids[l], new Shape(k, config.inputDim()));
            norms[l] = codebooks[l].square().sum(new int[] {1}).reshape(1, k);
        }
    }

    /**
     * @param config an rq-kmeans model config
     * @param centroids per level [K_d, input_dim] row-major
     */
    public static RqKMeans of(SidModelConfig config, NDManager manager, float[][] centroids) {
        return new RqKMeans(config, manager, centroids);
    }

    /** @return the model of a state dict written by {@link #stateDict()} */
    public static RqKMeans fromStateDict(SidModelConfig config, Map<String, HostTensor> state, NDManager manager) {
        float[][] c = new float[config.depth()][];
        for (int d = 0; d < c.length; d++) {
            HostTensor t = state.get(key(d));
            if (t == null) {
                throw new IllegalArgumentException("state dict lacks " + key(d));
            }
            c[d] = t.toFloats();
        }
        if (state.size() != c.length) {
            throw new IllegalArgumentException("state dict has unexpected tensors: " + state.keySet());
        }
        return of(config, manager, c);
    }

    static String key(int d) {
        return "quantizer.codebooks." + d + ".weight";
    }

    /** @return {@code quantizer.codebooks.<d>.weight} [K_d, input_dim] per level */
    public Map<String, HostTensor> stateDict() {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (int d = 0; d < codebooks.length; d++) {
            out.put(key(d), HostTensor.of(codebooks[d]));
        }
        return out;
    }

    @Override
    public int inputDim() {
        return config.inputDim();
    }

    @Override
    public int depth() {
        return codebooks.length;
    }

    @Override
    public int codebookSize(int d) {
        return config.codebookSize(d);
    }

    @Override
    public int codeDim() {
        return config.inputDim();
    }

    @Override
    public NDArray codes(NDArray x) {
        NDArray r = x;
        NDList codes = new NDList();
        for (int d = 0; d < codebooks.length; d++) {
            NDArray dist = r.square().sum(new int[] {1}, true).add(norms[d])
                    .sub(r.matMul(codebooks[d].transpose()).mul(2f)); // [B, K]
            NDArray idx = Kernels.argminRows(dist); // [B]
            r = r.sub(codebooks[d].get(new NDIndex("{}", idx)));
            codes.add(idx.reshape(-1, 1));
        }
        return codes.size() == 1 ? codes.get(0) : NDArrays.concat(codes, 1);
    }

    @Override
    public NDArray reconstruct(NDArray codes) {
        NDArray sum = null;
        for (int d = 0; d < codebooks.length; d++) {
            NDArray e = codebooks[d].get(new NDIndex("{}", codes.get(":, " + d)));
            sum = sum == null ? e : sum.add(e);
        }
        return sum;
    }

    @Override
    public float[] codebook(int d) {
        return codebooks[d].toFloatArray();
    }

    @Override
    public void close() {
        manager.close();
    }
}
