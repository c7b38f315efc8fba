package dev.rq.model.transformer;

import dev.rq.model.Repo;
import dev.rq.model.config.Configs;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.config.VaeConfig;
import java.nio.file.Path;
import java.util.List;

/** Test helpers: stage-2 run configs from conf/rqtransformer with their RQ-VAE config. */
public final class Stage2 {

    private Stage2() {}

    /** A run config and its RQ-VAE model config. */
    public record Run(TransformerRunConfig config, VaeConfig vae) {}

    /** Loads {@code conf/rqtransformer/<name>.yaml} with overrides. */
    public static Run load(String name, List<String> overrides) throws Exception {
        Path f = Repo.conf("rqtransformer/" + name + ".yaml");
        TransformerRunConfig c = TransformerRunConfig.load(f, overrides);
        return new Run(c, Configs.loadRqVae(c.vaeConfigPath(f), List.of()).model());
    }
}
