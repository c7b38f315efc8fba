package dev.rq.model.config;

/** A configuration error: names the offending key (dotted path, e.g. {@code train.lr}). */
public final class ConfigException extends RuntimeException {

    private final String key;

    public ConfigException(String key, String message) {
        super(key + ": " + message);
        this.key = key;
    }

    /** @return the dotted path of the offending key */
    public String key() {
        return key;
    }

    /** Throws a {@link ConfigException} for {@code key} unless {@code ok}. */
    public static void require(boolean ok, String key, String format, Object... args) {
        if (!ok) {
            throw new ConfigException(key, String.format(format, args));
        }
    }

    static <T> T required(T value, String key) {
        if (value == null) {
            throw new ConfigException(key, "required key is missing");
        }
        return value;
    }
}
