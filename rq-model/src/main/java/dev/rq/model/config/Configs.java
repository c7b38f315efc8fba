package dev.rq.model.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Loads configuration files (YAML or JSON) into validated records.
 *
 * <p>Precedence: {@code --set key=value} overrides &gt; the file &gt; record defaults. Overrides
 * are applied to the parsed tree before binding, so they get exactly the same checks as the file:
 * an unknown key, a wrong type or an impossible value fails with a {@link ConfigException} naming
 * the dotted key. Boolean keys take booleans only ({@code true}/{@code false}): {@code 2}, {@code 1}
 * or {@code 'yes'} fail naming the key and the value.
 */
public final class Configs {

    private static final ObjectMapper YAML = mapper(new ObjectMapper(new YAMLFactory()));
    private static final ObjectMapper JSON = mapper(JsonMapper.builder().build());
    private static final ObjectMapper CANONICAL = mapper(JsonMapper.builder()
            .configure(MapperFeature.SORT_PROPERTIES_ALPHABETICALLY, true)
            .configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true)
            .build());

    private Configs() {}

    private static ObjectMapper mapper(ObjectMapper m) {
        return m.setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
                .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true)
                .configure(DeserializationFeature.ACCEPT_SINGLE_VALUE_AS_ARRAY, true)
                .configure(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES, true)
                .configure(DeserializationFeature.ACCEPT_FLOAT_AS_INT, false)
                .configure(SerializationFeature.INDENT_OUTPUT, true);
    }

    /** Parses a YAML (or JSON) file into a tree. */
    public static JsonNode readTree(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return readTree(in, file.toString());
        }
    }

    /** Parses YAML (or JSON) text into a tree. */
    public static JsonNode readTree(InputStream in, String name) throws IOException {
        JsonNode n = YAML.readTree(in);
        if (n == null || !n.isObject()) {
            throw new ConfigException("<root>", name + " is not a mapping of sections");
        }
        return n;
    }

    /**
     * Applies {@code key=value} overrides to {@code tree} in place. Values are parsed as YAML
     * (numbers, booleans, {@code [1, 2]} lists); intermediate mappings are created as needed.
     */
    public static JsonNode applyOverrides(JsonNode tree, List<String> overrides) {
        for (String o : overrides) {
            int eq = o.indexOf('=');
            if (eq <= 0) {
                throw new ConfigException(o, "override must look like key=value");
            }
            String key = o.substring(0, eq).trim();
            String raw = o.substring(eq + 1);
            JsonNode value;
            try {
                value = YAML.readTree(raw.isEmpty() ? "''" : raw);
            } catch (JsonProcessingException e) {
                throw new ConfigException(key, "cannot parse value '" + raw + "'");
            }
            String[] parts = key.split("\\.");
            ObjectNode node = (ObjectNode) tree;
            for (int i = 0; i < parts.length - 1; i++) {
                JsonNode child = node.get(parts[i]);
                if (child == null) {
                    child = node.putObject(parts[i]);
                } else if (!child.isObject()) {
                    throw new ConfigException(key, "'" + parts[i] + "' is not a section");
                }
                node = (ObjectNode) child;
            }
            node.set(parts[parts.length - 1], value);
        }
        return tree;
    }

    /**
     * Binds a tree to a validated record of type {@code type}.
     *
     * @param prefix dotted path of {@code tree} inside the file ("" for the root), used in errors
     */
    public static <T> T bind(JsonNode tree, Class<T> type, String prefix) {
        checkKeys(tree, type, prefix);
        try {
            return YAML.treeToValue(tree, type);
        } catch (ValueInstantiationException e) {
            Throwable c = e.getCause();
            while (c != null && !(c instanceof ConfigException)) {
                c = c.getCause();
            }
            if (c != null) {
                throw (ConfigException) c;
            }
            throw new ConfigException(path(prefix, e), e.getOriginalMessage());
        } catch (UnrecognizedPropertyException e) {
            throw new ConfigException(path(prefix, e), "unknown key (known keys: "
                    + e.getKnownPropertyIds().stream().map(String::valueOf).sorted().collect(Collectors.joining(", "))
                    + ")");
        } catch (JsonMappingException e) {
            throw new ConfigException(path(prefix, e), "wrong type or value: " + e.getOriginalMessage());
        } catch (JsonProcessingException e) {
            throw new ConfigException(prefix.isEmpty() ? "<root>" : prefix, e.getOriginalMessage());
        }
    }

    /** Rejects keys that are not components of the record (recursively), before any binding. */
    private static void checkKeys(JsonNode node, Class<?> type, String prefix) {
        if (!type.isRecord() || node == null || !node.isObject()) {
            return;
        }
        java.util.Map<String, Class<?>> known = new java.util.TreeMap<>();
        for (var c : type.getRecordComponents()) {
            known.put(PropertyNamingStrategies.SnakeCaseStrategy.INSTANCE.translate(c.getName()), c.getType());
        }
        for (var it = node.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            String path = prefix.isEmpty() ? k : prefix + "." + k;
            if (!known.containsKey(k)) {
                throw new ConfigException(path, "unknown key (known keys: " + String.join(", ", known.keySet()) + ")");
            }
            checkBoolean(node.get(k), known.get(k), path);
            checkKeys(node.get(k), known.get(k), path);
        }
    }

    /**
     * A boolean key takes a YAML or JSON boolean only ({@code true}, {@code false}; YAML's {@code True},
     * {@code FALSE}, … as the parser reads them) or null (the default): Jackson would coerce a number
     * (any non-zero is true) or the strings "true"/"false".
     */
    private static void checkBoolean(JsonNode value, Class<?> type, String path) {
        if ((type == boolean.class || type == Boolean.class) && !value.isBoolean() && !value.isNull()) {
            throw new ConfigException(path, "expected true or false, got " + (value.isTextual() ? "'"
                    + value.asText() + "'" : value.toString()));
        }
    }

    private static String path(String prefix, JsonMappingException e) {
        String p = e.getPath().stream()
                .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                .collect(Collectors.joining("."))
                .replace(".[", "[");
        return prefix.isEmpty() ? p : prefix + "." + p;
    }

    /** Loads a stage-1 run config from a YAML file with overrides. */
    public static RqVaeRunConfig loadRqVae(Path file, List<String> overrides) throws IOException {
        return bind(applyOverrides(readTree(file), overrides), RqVaeRunConfig.class, "");
    }

    /**
     * Reads an official-format model config (a JSON or YAML mapping with {@code ddconfig} and
     * {@code hparams}, optionally nested under {@code arch} or {@code model}). The training-only
     * {@code hparams.checkpointing} flag (gradient checkpointing, not implemented) is dropped: the
     * model is the same; a run config that asks for it is rejected ({@link QuantizerConfig}).
     */
    public static VaeConfig readOfficialVae(JsonNode tree) {
        JsonNode n = tree;
        if (n.has("arch")) {
            n = n.get("arch");
        } else if (n.has("model") && n.get("model").has("ddconfig")) {
            n = n.get("model");
        }
        ObjectNode m = JSON.createObjectNode();
        m.set("ddconfig", n.get("ddconfig"));
        JsonNode h = n.get("hparams");
        if (h != null && h.isObject()) {
            h = h.deepCopy();
            ((ObjectNode) h).remove("checkpointing"); // a training-memory setting, not part of the model
        }
        m.set("hparams", h);
        return bind(m, VaeConfig.class, "model");
    }

    /** @return canonical JSON (sorted keys, snake_case) of a config record */
    public static String toCanonicalJson(Object config) {
        try {
            return CANONICAL.writeValueAsString(config);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** @return the config record as a JSON tree (snake_case keys) */
    public static JsonNode toTree(Object config) {
        return CANONICAL.valueToTree(config);
    }

    /** @return hex SHA-256 of the canonical JSON of {@code config} */
    public static String hash(Object config) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            return HexFormat.of().formatHex(md.digest(toCanonicalJson(config).getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Binds canonical JSON text (as written by {@link #toCanonicalJson}) back to a record. */
    public static <T> T fromJson(String json, Class<T> type) {
        try {
            return bind(JSON.readTree(json), type, "");
        } catch (JsonProcessingException e) {
            throw new ConfigException("<root>", e.getOriginalMessage());
        }
    }
}
