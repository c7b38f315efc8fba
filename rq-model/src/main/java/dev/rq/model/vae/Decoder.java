package dev.rq.model.vae;

import ai.djl.ndarray.NDArray;
import dev.rq.model.config.DdConfig;
import dev.rq.model.nn.AttnBlock;
import dev.rq.model.nn.Conv2d;
import dev.rq.model.nn.GroupNorm;
import dev.rq.model.nn.Ops;
import dev.rq.model.nn.ParamStore;
import dev.rq.model.nn.ResnetBlock;
import dev.rq.model.nn.Upsample;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The official VAE decoder (spec §1.4): {@code conv_in}, {@code mid}, then levels L−1 … 0 with
 * {@code num_res_blocks + 1} ResNet blocks each (attention after each at the configured
 * resolutions) and an upsample except at level 0, then {@code norm_out}, swish, {@code conv_out}.
 * No output squashing.
 *
 * <p>z: [B, z_channels, r, r] → [B, out_ch, R, R].
 */
final class Decoder {

    private record Level(List<ResnetBlock> blocks, List<AttnBlock> attns, Upsample up) {}

    private final Conv2d convIn;
    private final ResnetBlock midBlock1;
    private final AttnBlock midAttn;
    private final ResnetBlock midBlock2;
    private final Level[] levels; // indexed by level i (0 = full resolution), executed L−1 … 0
    private final GroupNorm normOut;
    private final Conv2d convOut;

    Decoder(ParamStore ps, DdConfig c) {
        String p = "decoder.";
        int lv = c.levels();
        int blockIn = c.ch() * c.chMult().get(lv - 1);
        convIn = new Conv2d(ps, p + "conv_in", c.zChannels(), blockIn, 3, 1, 1);
        midBlock1 = new ResnetBlock(ps, p + "mid.block_1", blockIn, blockIn, c.dropout());
        midAttn = new AttnBlock(ps, p + "mid.attn_1", blockIn);
        midBlock2 = new ResnetBlock(ps, p + "mid.block_2", blockIn, blockIn, c.dropout());
        // Build (and so declare) levels in execution order to know each level's input channels,
        // but record the declarations per level so the state-dict order can be up.0 … up.L−1.
        int[] inCh = new int[lv];
        int[] res = new int[lv];
        int r = c.latentSize();
        int cur = blockIn;
        for (int i = lv - 1; i >= 0; i--) {
            inCh[i] = cur;
            res[i] = r;
            cur = c.ch() * c.chMult().get(i);
            if (i != 0) {
                r *= 2;
            }
        }
        levels = new Level[lv];
        for (int i = 0; i < lv; i++) { // official ModuleList order: up.0 first
            int out = c.ch() * c.chMult().get(i);
            int in = inCh[i];
            List<ResnetBlock> blocks = new ArrayList<>();
            List<AttnBlock> attns = new ArrayList<>();
            for (int j = 0; j <= c.numResBlocks(); j++) {
                blocks.add(new ResnetBlock(ps, p + "up." + i + ".block." + j, in, out, c.dropout()));
                in = out;
            }
            if (c.attnResolutions().contains(res[i])) {
                for (int j = 0; j <= c.numResBlocks(); j++) {
                    attns.add(new AttnBlock(ps, p + "up." + i + ".attn." + j, out));
                }
            }
            Upsample up = i != 0 ? new Upsample(ps, p + "up." + i + ".upsample", out) : null;
            levels[i] = new Level(blocks, attns, up);
        }
        int outCh = c.ch() * c.chMult().get(0);
        normOut = new GroupNorm(ps, p + "norm_out", outCh);
        convOut = new Conv2d(ps, p + "conv_out", outCh, c.outCh(), 3, 1, 1).keepFloat32(); // the reconstruction
        assert Arrays.stream(inCh).allMatch(x -> x > 0);
    }

    NDArray forward(NDArray z, boolean training) {
        return convOut.forward(head(z, training));
    }

    /** @return the input of {@code conv_out} [B, ch·ch_mult[0], R, R] and the output [B, out_ch, R, R] */
    NDArray[] forwardWithHead(NDArray z, boolean training) {
        NDArray h = head(z, training);
        return new NDArray[] {h, convOut.forward(h)};
    }

    /** Everything before {@code conv_out}. */
    private NDArray head(NDArray z, boolean training) {
        NDArray h = Ops.freeEarly(training, z, convIn::forward);
        h = Ops.freeEarly(training, h, v -> midBlock1.forward(v, training));
        h = Ops.freeEarly(training, h, midAttn::forward);
        h = Ops.freeEarly(training, h, v -> midBlock2.forward(v, training));
        for (int i = levels.length - 1; i >= 0; i--) {
            Level level = levels[i];
            for (int j = 0; j < level.blocks.size(); j++) {
                int k = j;
                h = Ops.freeEarly(training, h, v -> level.blocks.get(k).forward(v, training));
                if (!level.attns.isEmpty()) {
                    h = Ops.freeEarly(training, h, level.attns.get(j)::forward);
                }
            }
            if (level.up != null) {
                h = Ops.freeEarly(training, h, level.up::forward);
            }
        }
        return normOut.forwardSwish(h);
    }
}
