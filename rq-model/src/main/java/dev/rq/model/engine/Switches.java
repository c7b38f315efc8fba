package dev.rq.model.engine;

/**
 * Per-call A/B switches of the speed work (docs/performance.md): a JVM property {@code -Dkey=false}
 * turns an optimisation off, anything else (or nothing) leaves it on. Read at each call, so that
 * in-process A/B scripts (scripts/TokenizeAb.java, …) can alternate the variants call by call.
 */
public final class Switches {
    private Switches() {}

    /** @return false only when the JVM property {@code key} is exactly {@code false} */
    public static boolean on(String key) {
        return !"false".equals(System.getProperty(key));
    }
}
