package dev.rq.model.vae;

import ai.djl.ndarray.NDArray;
import dev.rq.model.config.DdConfig;
import dev.rq.model.nn.AttnBlock;
import dev.rq.model.nn.Conv2d;
import dev.rq.model.nn.Downsample;
import dev.rq.model.nn.GroupNorm;
import dev.rq.model.nn.Ops;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.nn.ResnetBlock;
import java.util.ArrayList;
import java.util.List;

/**
 * The official VAE encoder (spec §1.3): {@code conv_in}, per level {@code num_res_blocks} ResNet
 * blocks (each followed by attention at the configured resolutions) and a downsample except at
 * the last level, then {@code mid} (block, attention, block), {@code norm_out}, swish, {@code
 * conv_out}.
 *
 * <p>x: [B, in_channels, R, R] → [B, z_channels, R/2^(L−1), R/2^(L−1)].
 */
final class Encoder {

    private record Level(List<ResnetBlock> blocks, List<AttnBlock> attns, Downsample down) {}

    private final Conv2d convIn;
    private final List<Level> levels = new ArrayList<>();
    private final ResnetBlock midBlock1;
    private final AttnBlock midAttn;
    private final ResnetBlock midBlock2;
    private final GroupNorm normOut;
    private final Conv2d convOut;
    private final ParamStore ps;

    Encoder(ParamStore ps, DdConfig c) {
        this.ps = ps;
        String p = "encoder.";
        convIn = new Conv2d(ps, p + "conv_in", c.inChannels(), c.ch(), 3, 1, 1).keepFloat32(); // the image
        int res = c.resolution();
        int blockIn = c.ch();
        for (int i = 0; i < c.levels(); i++) {
            int blockOut = c.ch() * c.chMult().get(i);
            List<ResnetBlock> blocks = new ArrayList<>();
            List<AttnBlock> attns = new ArrayList<>();
            for (int j = 0; j < c.numResBlocks(); j++) {
                blocks.add(new ResnetBlock(ps, p + "down." + i + ".block." + j, blockIn, blockOut, c.dropout()));
                blockIn = blockOut;
            }
            // attention modules are registered after all blocks of the level (state-dict order)
            if (c.attnResolutions().contains(res)) {
                for (int j = 0; j < c.numResBlocks(); j++) {
                    attns.add(new AttnBlock(ps, p + "down." + i + ".attn." + j, blockIn));
                }
            }
            Downsample down = null;
            if (i != c.levels() - 1) {
                down = new Downsample(ps, p + "down." + i + ".downsample", blockIn);
                res /= 2;
            }
            levels.add(new Level(blocks, attns, down));
        }
        midBlock1 = new ResnetBlock(ps, p + "mid.block_1", blockIn, blockIn, c.dropout());
        midAttn = new AttnBlock(ps, p + "mid.attn_1", blockIn);
        midBlock2 = new ResnetBlock(ps, p + "mid.block_2", blockIn, blockIn, c.dropout());
        // the quantizer's input: float32 from here on
        normOut = new GroupNorm(ps, p + "norm_out", blockIn).keepFloat32();
        convOut = new Conv2d(ps, p + "conv_out", blockIn, c.zChannels(), 3, 1, 1).keepFloat32();
    }

    NDArray forward(NDArray x, boolean training) {
        NDArray h = Ops.freeEarly(training, x, v -> ps.toCompute(convIn.forward(Ops.toModelLayout(v, training))));
        for (Level level : levels) {
            for (int j = 0; j < level.blocks.size(); j++) {
                int k = j;
                h = Ops.freeEarly(training, h, v -> level.blocks.get(k).forward(v, training));
                if (!level.attns.isEmpty()) {
                    h = Ops.freeEarly(training, h, level.attns.get(j)::forward);
                }
            }
            if (level.down != null) {
                h = Ops.freeEarly(training, h, level.down::forward);
            }
        }
        h = Ops.freeEarly(training, h, v -> midBlock1.forward(v, training));
        h = Ops.freeEarly(training, h, midAttn::forward);
        h = Ops.freeEarly(training, h, v -> midBlock2.forward(v, training));
        return Ops.freeEarly(training, h, v -> convOut.forward(normOut.forwardSwish(v)));
    }
}
