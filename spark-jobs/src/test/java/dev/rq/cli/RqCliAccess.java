package dev.rq.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Properties;

/** Runs the {@code rq} command line in the test JVM (for tests outside this package). */
public final class RqCliAccess {

    private RqCliAccess() {}

    /**
     * Runs {@code rq args}; JVM properties set by {@code --spark-conf} are restored afterwards, so
     * the settings of one command do not leak into the next test.
     *
     * @return the exit code
     */
    public static int execute(PrintWriter err, String... args) {
        Properties before = (Properties) System.getProperties().clone();
        try {
            return RqCli.commandLine(new PrintWriter(new StringWriter(), true), err).execute(args);
        } finally {
            System.getProperties().stringPropertyNames().stream().filter(k -> k.startsWith("spark."))
                    .filter(k -> !before.containsKey(k)).forEach(System::clearProperty);
            before.stringPropertyNames().stream().filter(k -> k.startsWith("spark."))
                    .forEach(k -> System.setProperty(k, before.getProperty(k)));
        }
    }
}
