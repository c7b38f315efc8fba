package dev.rq.model.config;

import java.io.Serializable;

/**
 * The official stage-1 {@code gan} section: discriminator architecture and loss settings.
 *
 * @param disc discriminator ({@code arch})
 * @param loss loss terms and their weights
 */
public record GanConfig(Disc disc, GanLossConfig loss) implements Serializable {

    /** {@code gan.disc}: holds {@code arch} as in the official YAML. */
    public record Disc(DiscConfig arch) implements Serializable {
        public Disc {
            arch = arch == null ? DiscConfig.defaults() : arch;
        }
    }

    public GanConfig {
        disc = disc == null ? new Disc(null) : disc;
        ConfigException.required(loss, "gan.loss");
    }
}
