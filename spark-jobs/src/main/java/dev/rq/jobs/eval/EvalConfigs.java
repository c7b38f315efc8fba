package dev.rq.jobs.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.Configs;
import dev.rq.model.config.EvalConfig;
import java.util.List;

/** Resolves the {@code eval} settings of a run: a base section, then {@code --set eval.<key>=value}. */
final class EvalConfigs {

    private EvalConfigs() {}

    /**
     * @param base the checkpoint config's {@code eval} section (or the defaults)
     * @param overrides {@code eval.<key>=value} strings
     * @throws ConfigException naming the key on an unknown key, a wrong value, or a key outside {@code eval}
     */
    static EvalConfig resolve(EvalConfig base, List<String> overrides) {
        for (String o : overrides) {
            if (!o.startsWith("eval.")) {
                throw new ConfigException(o.contains("=") ? o.substring(0, o.indexOf('=')) : o,
                        "rq eval takes only eval.* settings (--set eval.<key>=<value>)");
            }
        }
        ObjectNode root = (ObjectNode) Configs.toTree(new Wrapper(base));
        JsonNode tree = Configs.applyOverrides(root, overrides);
        return Configs.bind(tree.get("eval"), EvalConfig.class, "eval");
    }

    /** The {@code eval} section as a tree root. */
    record Wrapper(EvalConfig eval) {}
}
