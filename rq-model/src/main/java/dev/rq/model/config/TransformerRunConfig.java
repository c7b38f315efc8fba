package dev.rq.model.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.List;

/**
 * A whole stage-2 (RQ-Transformer) run configuration, as in {@code conf/rqtransformer/*.yaml}.
 *
 * <p>{@link #load} fills the official stage-2 optimisation settings (spec §4.7: AdamW lr 5e-4,
 * betas (0.9, 0.95), weight decay 1e-4, grad-norm clip 1.0, cosine decay to 0, no warm-up) for
 * {@code train.*} keys the file leaves out, before binding; the stage-1 defaults of {@link
 * TrainConfig} would otherwise apply.
 *
 * @param model the transformer
 * @param vae where the frozen RQ-VAE (code embeddings, soft targets, decoding) comes from
 * @param train optimisation settings (batch_size is the global batch)
 * @param loss stage-2 objective
 * @param sampling default sampling settings
 * @param data image reading (used when training from images, i.e. with soft targets)
 */
public record TransformerRunConfig(
        TransformerConfig model, VaeSource vae, TrainConfig train, Stage2LossConfig loss,
        SamplingConfig sampling, DataConfig data) implements Serializable {

    /**
     * The RQ-VAE of a stage-2 run.
     *
     * @param config an RQ-VAE run config file ({@code conf/rqvae/*.yaml}); a relative path is
     *     resolved against the directory of the stage-2 config file
     * @param checkpoint an RQ-VAE checkpoint directory URI (takes precedence over {@code config}
     *     for weights; its manifest carries its config)
     */
    public record VaeSource(String config, String checkpoint) implements Serializable {

        public VaeSource {
            ConfigException.require(config != null || checkpoint != null, "vae",
                    "needs config (an RQ-VAE run config file) or checkpoint (an RQ-VAE checkpoint)");
        }
    }

    public TransformerRunConfig {
        ConfigException.required(model, "model");
        ConfigException.required(vae, "vae");
        train = train == null ? TrainConfig.defaults() : train;
        loss = loss == null ? Stage2LossConfig.defaults() : loss;
        sampling = sampling == null ? SamplingConfig.defaults() : sampling;
        data = data == null ? DataConfig.defaults() : data;
        ConfigException.require(!sampling.guided() || model.hasNullClass(), "sampling.cfg_scale",
                "%s needs a model trained with model.cond_drop_prob > 0 (a null class); use 1 (no guidance)",
                sampling.cfgScale());
        if (sampling.topK() != null) {
            ConfigException.require(sampling.topK().size() == 1 || sampling.topK().size() == model.depth(),
                    "sampling.top_k", "must be one value or one per depth (%s), got %s", model.depth(), sampling.topK());
        }
        if (sampling.topP() != null) {
            ConfigException.require(sampling.topP().size() == 1 || sampling.topP().size() == model.depth(),
                    "sampling.top_p", "must be one value or one per depth (%s), got %s", model.depth(), sampling.topP());
        }
    }

    /** Official stage-2 values for {@code train.*} keys a file omits (spec §4.7). */
    static final List<String[]> STAGE2_TRAIN_DEFAULTS = List.of(
            new String[] {"lr", "5.0e-4"},
            new String[] {"betas", "[0.9, 0.95]"},
            new String[] {"weight_decay", "1.0e-4"},
            new String[] {"grad_clip_norm", "1.0"},
            new String[] {"schedule", "cosine"},
            new String[] {"min_lr", "0.0"},
            new String[] {"warmup_steps", "0"});

    /** Loads a stage-2 run config file with {@code key=value} overrides (stage-2 defaults filled). */
    public static TransformerRunConfig load(Path file, List<String> overrides) throws IOException {
        JsonNode tree = Configs.applyOverrides(Configs.readTree(file), overrides);
        return bind(tree);
    }

    /** Binds a parsed tree (overrides already applied), filling the stage-2 training defaults. */
    public static TransformerRunConfig bind(JsonNode tree) {
        JsonNode train = tree.get("train");
        if (train == null) {
            train = ((ObjectNode) tree).putObject("train");
        }
        if (train.isObject()) {
            ObjectNode t = (ObjectNode) train;
            for (String[] kv : STAGE2_TRAIN_DEFAULTS) {
                if (!t.has(kv[0])) {
                    Configs.applyOverrides(tree, List.of("train." + kv[0] + "=" + kv[1]));
                }
            }
        }
        return Configs.bind(tree, TransformerRunConfig.class, "");
    }

    /**
     * The run config of an imported official model: the architecture of an official stage-2
     * config ({@code config.yaml} of a release, {@code arch} section, or the bare {@code
     * RQTransformerConfig} dump; whole-value OmegaConf interpolations such as {@code
     * ${dataset.vocab_size}} are resolved), its {@code loss} and {@code sampling} settings where it
     * has them (known keys only), the given RQ-VAE checkpoint, and the official stage-2 training
     * defaults.
     *
     * @param official the parsed official config
     * @param vaeCheckpoint URI of the rq RQ-VAE checkpoint whose codebook the model embeds
     */
    public static TransformerRunConfig fromOfficial(JsonNode official, String vaeCheckpoint) {
        JsonNode resolved = resolveInterpolations(official.deepCopy(), official, 0);
        ObjectNode root = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
        root.set("model", Configs.toTree(TransformerConfig.readOfficial(resolved)));
        root.putObject("vae").put("checkpoint", vaeCheckpoint);
        copyKnown(resolved.get("loss"), root.putObject("loss"), "type", "temp", "stochastic_codes", "img_weight",
                "txt_weight");
        JsonNode sampling = resolved.get("sampling");
        if (sampling == null && resolved.path("experiment").has("sample")) {
            sampling = resolved.get("experiment").get("sample");
        }
        copyKnown(sampling, root.putObject("sampling"), "temperature", "top_k", "top_p");
        return bind(root);
    }

    private static void copyKnown(JsonNode from, ObjectNode to, String... keys) {
        if (from == null || !from.isObject()) {
            return;
        }
        for (String k : keys) {
            if (from.has(k) && !from.get(k).isNull()) {
                to.set(k, from.get(k));
            }
        }
    }

    /** Replaces every textual {@code ${a.b}} value by the node at path {@code a.b} of {@code root}. */
    private static JsonNode resolveInterpolations(JsonNode node, JsonNode root, int depth) {
        if (depth > 32) {
            throw new ConfigException("<official config>", "interpolations nest too deeply (a cycle?)");
        }
        if (node.isTextual()) {
            String t = node.asText();
            if (t.startsWith("${") && t.endsWith("}") && t.indexOf('}') == t.length() - 1) {
                JsonNode target = root;
                for (String part : t.substring(2, t.length() - 1).split("\\.")) {
                    target = target == null ? null : target.get(part);
                }
                if (target == null) {
                    throw new ConfigException("<official config>", "cannot resolve " + t);
                }
                return resolveInterpolations(target.deepCopy(), root, depth + 1);
            }
            return node;
        }
        if (node.isObject()) {
            ObjectNode o = (ObjectNode) node;
            for (java.util.Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                o.set(k, resolveInterpolations(o.get(k), root, depth));
            }
        } else if (node.isArray()) {
            com.fasterxml.jackson.databind.node.ArrayNode a = (com.fasterxml.jackson.databind.node.ArrayNode) node;
            for (int i = 0; i < a.size(); i++) {
                a.set(i, resolveInterpolations(a.get(i), root, depth));
            }
        }
        return node;
    }

    /**
     * @param configFile the stage-2 config file this run was loaded from
     * @return the RQ-VAE config file path ({@code vae.config} resolved against its directory)
     */
    public Path vaeConfigPath(Path configFile) {
        if (vae.config() == null) {
            throw new ConfigException("vae.config", "not set");
        }
        Path p = Path.of(vae.config());
        Path dir = configFile.toAbsolutePath().getParent();
        return p.isAbsolute() || dir == null ? p : dir.resolve(p).normalize();
    }
}
