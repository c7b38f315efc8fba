package dev.rq.model.config;

import java.io.Serializable;

/**
 * Settings of {@code rq eval} (section {@code eval} of a stage-1 run config; {@code rq eval --set
 * eval.<key>=...} overrides the checkpoint's).
 *
 * <p>Pretrained networks are never downloaded: their weights are given by URI as safetensors files
 * (docs/eval.md has the one-line conversions of the standard files).
 *
 * @param inceptionWeights URI of the FID Inception V3 weights (pytorch-fid's {@code
 *     pt_inception-2015-12-05-6726825d.pth} converted to safetensors); null: no rFID / FID / IS
 * @param lpipsWeights URI of the LPIPS weights (VGG16 features + linear heads, safetensors); null:
 *     no LPIPS column
 * @param batchSize images per model call (fixed: the same images share a call whatever the number of
 *     workers, so results do not depend on it)
 * @param isSplits parts of the Inception Score (official: 10)
 * @param inceptionSize side the images are resized to before the FID network: 299 (default) is
 *     the FID protocol; a smaller side (at least 75) gives numbers that are NOT FID, for smoke
 *     tests on small machines (the summary says so)
 */
public record EvalConfig(String inceptionWeights, String lpipsWeights, Integer batchSize, Integer isSplits,
        Integer inceptionSize) implements Serializable {

    /** The FID protocol's resize side. */
    public static final int FID_SIZE = 299;
    /** The smallest resize side the FID network takes. */
    public static final int MIN_INCEPTION_SIZE = 75;

    public EvalConfig {
        inceptionWeights = blankToNull(inceptionWeights);
        lpipsWeights = blankToNull(lpipsWeights);
        batchSize = batchSize == null ? 16 : batchSize;
        isSplits = isSplits == null ? 10 : isSplits;
        inceptionSize = inceptionSize == null ? FID_SIZE : inceptionSize;
        ConfigException.require(inceptionSize >= MIN_INCEPTION_SIZE, "eval.inception_size",
                "must be at least %s (299 is the FID protocol), got %s", MIN_INCEPTION_SIZE, inceptionSize);
        ConfigException.require(batchSize > 0, "eval.batch_size", "must be positive, got %s", batchSize);
        ConfigException.require(isSplits > 0, "eval.is_splits", "must be positive, got %s", isSplits);
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }

    /** @return whether features follow the FID protocol (299×299 resize) */
    public boolean fidProtocol() {
        return inceptionSize == FID_SIZE;
    }

    /** @return the defaults: no pretrained networks, batch 16, 10 Inception Score parts, 299×299 */
    public static EvalConfig defaults() {
        return new EvalConfig(null, null, null, null, null);
    }
}
