package dev.rq.model.config;

import java.io.Serializable;
import java.util.List;

/**
 * Encoder/decoder shape ({@code ddconfig} of the official RQ-VAE, §1 of the spec).
 *
 * @param ch base channel count C
 * @param chMult channel multiplier per resolution level (L levels; latent = resolution / 2^(L-1))
 * @param numResBlocks ResNet blocks per encoder level (the decoder has one more)
 * @param attnResolutions resolutions at which attention blocks follow each ResNet block
 * @param resolution input image side
 * @param inChannels image channels in
 * @param outCh image channels out
 * @param zChannels encoder output channels
 * @param doubleZ doubles the encoder output channels (always false for RQ-VAE)
 * @param dropout dropout inside ResNet blocks
 */
public record DdConfig(
        Integer ch,
        List<Integer> chMult,
        Integer numResBlocks,
        List<Integer> attnResolutions,
        Integer resolution,
        Integer inChannels,
        Integer outCh,
        Integer zChannels,
        Boolean doubleZ,
        Double dropout) implements Serializable {

    private static final String P = "model.ddconfig.";

    public DdConfig {
        ConfigException.required(ch, P + "ch");
        ConfigException.required(chMult, P + "ch_mult");
        ConfigException.required(numResBlocks, P + "num_res_blocks");
        ConfigException.required(resolution, P + "resolution");
        ConfigException.required(zChannels, P + "z_channels");
        attnResolutions = attnResolutions == null ? List.of() : List.copyOf(attnResolutions);
        chMult = List.copyOf(chMult);
        inChannels = inChannels == null ? 3 : inChannels;
        outCh = outCh == null ? 3 : outCh;
        doubleZ = doubleZ != null && doubleZ;
        dropout = dropout == null ? 0.0 : dropout;
        ConfigException.require(ch > 0 && ch % 32 == 0, P + "ch",
                "must be a positive multiple of 32 (GroupNorm uses 32 groups), got %s", ch);
        ConfigException.require(!chMult.isEmpty(), P + "ch_mult", "must not be empty");
        for (int m : chMult) {
            ConfigException.require(m > 0, P + "ch_mult", "entries must be positive, got %s", chMult);
        }
        ConfigException.require(numResBlocks > 0, P + "num_res_blocks", "must be positive, got %s", numResBlocks);
        int down = 1 << (chMult.size() - 1);
        ConfigException.require(resolution > 0 && resolution % down == 0, P + "resolution",
                "must be divisible by 2^(len(ch_mult)-1) = %s, got %s", down, resolution);
        ConfigException.require(zChannels > 0, P + "z_channels", "must be positive, got %s", zChannels);
        ConfigException.require(inChannels > 0, P + "in_channels", "must be positive, got %s", inChannels);
        ConfigException.require(outCh > 0, P + "out_ch", "must be positive, got %s", outCh);
        ConfigException.require(!doubleZ, P + "double_z", "must be false for an RQ-VAE");
        ConfigException.require(dropout >= 0 && dropout < 1, P + "dropout", "must be in [0, 1), got %s", dropout);
    }

    /** @return number of resolution levels L */
    public int levels() {
        return chMult.size();
    }

    /** @return the latent side: resolution / 2^(L-1) */
    public int latentSize() {
        return resolution >> (chMult.size() - 1);
    }
}
