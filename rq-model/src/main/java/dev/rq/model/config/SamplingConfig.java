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
 * @param cfgScale classifier-free guidance scale s (not in the official code): each code is drawn from
 *     {@code u + s·(c − u)}, c and u the logits conditioned on the class and on the null class (one
 *     batched pass of 2B rows). Default 1: no guidance, the conditional logits alone (one pass of B
 *     rows). Other values need a model trained with {@code model.cond_drop_prob} &gt; 0.
 */
public record SamplingConfig(Double temperature, List<Integer> topK, List<Double> topP, Integer batchSize,
        Double cfgScale) implements Serializable {

    public SamplingConfig {
        temperature = temperature == null ? 1.0 : temperature;
        topK = topK == null ? null : List.copyOf(topK);
        topP = topP == null ? null : List.copyOf(topP);
        batchSize = batchSize == null ? 16 : batchSize;
        cfgScale = cfgScale == null ? 1.0 : cfgScale;
        ConfigException.require(Double.isFinite(cfgScale) && cfgScale >= 0, "sampling.cfg_scale",
                "must be a finite number >= 0 (1: no guidance), got %s", cfgScale);
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

    /** @return whether sampling uses classifier-free guidance (a scale other than 1) */
    public boolean guided() {
        return cfgScale != 1.0;
    }

    /** @return these settings with guidance scale {@code s} */
    public SamplingConfig withCfgScale(double s) {
        return new SamplingConfig(temperature, topK, topP, batchSize, s);
    }

    /** @return temperature 1, no top-k, top-p 1 */
    public static SamplingConfig defaults() {
        return new SamplingConfig(null, null, null, null, null);
    }

    /** @return settings with the given values (null top-k/top-p: none) */
    public static SamplingConfig of(double temperature, Integer topK, Double topP) {
        return new SamplingConfig(temperature, topK == null ? null : List.of(topK), topP == null ? null : List.of(topP),
                null, null);
    }
}
