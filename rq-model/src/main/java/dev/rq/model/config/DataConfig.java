package dev.rq.model.config;

/**
 * How training images are read and augmented.
 *
 * @param randomCrop random crop (training) instead of a center crop
 * @param hflip random horizontal flip with probability 0.5
 * @param decodeThreads background decode/augment threads per worker
 * @param imageColumn image column of the dataset (struct{bytes,path} or binary)
 * @param labelColumn label column of the dataset
 */
public record DataConfig(
        Boolean randomCrop, Boolean hflip, Integer decodeThreads, String imageColumn, String labelColumn) {

    public DataConfig {
        randomCrop = randomCrop == null || randomCrop;
        hflip = hflip == null || hflip;
        decodeThreads = decodeThreads == null ? 2 : decodeThreads;
        imageColumn = imageColumn == null ? "image" : imageColumn;
        labelColumn = labelColumn == null ? "label" : labelColumn;
        ConfigException.require(decodeThreads > 0, "data.decode_threads", "must be positive, got %s", decodeThreads);
    }

    /** @return the default data settings */
    public static DataConfig defaults() {
        return new DataConfig(null, null, null, null, null);
    }
}
