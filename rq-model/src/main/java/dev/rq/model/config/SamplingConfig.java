package dev.rq.model.config;

import java.io.Serializable;
import java.util.List;

/**
 * Sampling settings (official {@code sample_from_logits}, spec §4.8): temperature, then top-k,
 * softmax, top-p (nucleus, exclusive cumulative rule), one multinomial draw.
 *
 * @param temperature logits are divided by it
 * @param topK keep logits ≥ the k-th largest; one value or one per depth; null = the whole vocabulary
 * @param topP nucleus mass; one value or one per depth; null = 1.0 (still applied, as officially)
 * @param batchSize images sampled per call
 */
public record SamplingConfig(Double temperature, List<Integer> topK, List<Double> topP, Integer batchSize)
        implements Serializable {

    public SamplingConfig {
        temperature = temperature == null ? 1.0 : temperature;
        topK = topK == null ? null : List.copyOf(topK);
        topP = topP == null ? null : List.copyOf(topP);
        batchSize = batchSize == null ? 16 : batchSize;
        ConfigException.require(temperature > 0, "sampling.temperature", "must be positive, got %s", temperature);
        if (topK != null) {
            for (int k : topK) {
                ConfigException.require(k > 0, "sampling.top_k", "must be positive, got %s", topK);
            }
        }
        if (topP != null) {
            for (double p : topP) {
                ConfigException.require(p > 0 && p <= 1, "sampling.top_p", "must be in (0, 1], got %s", topP);
            }
        }
        ConfigException.require(batchSize > 0, "sampling.batch_size", "must be positive, got %s", batchSize);
    }

    /** @return top-k of depth {@code d}, or 0 for none */
    public int topKAt(int d) {
        return topK == null ? 0 : topK.size() == 1 ? topK.get(0) : topK.get(d);
    }

    /** @return top-p of depth {@code d} (1.0 when unset) */
    public double topPAt(int d) {
        return topP == null ? 1.0 : topP.size() == 1 ? topP.get(0) : topP.get(d);
    }

    /** @return temperature 1, no top-k, top-p 1 */
    public static SamplingConfig defaults() {
        return new SamplingConfig(null, null, null, null);
    }

    /** @return settings with the given values (null top-k/top-p: none) */
    public static SamplingConfig of(double temperature, Integer topK, Double topP) {
        return new SamplingConfig(temperature, topK == null ? null : List.of(topK), topP == null ? null : List.of(topP),
                null);
    }
}
