package dev.rq.jobs.train;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;

/**
 * Child JVM processes for the multi-process tests: the test JVM's java and classpath, the
 * {@code --add-opens} flags of {@code bin/rq}, offline DJL; output (stdout and stderr together) goes
 * to a log file. Every wait is bounded; a process that overstays is killed with its descendants.
 */
final class ChildJvm {

    /** The flags of {@code bin/rq} (and of Spark's own launcher) that Spark and DJL need on Java 17. */
    static final List<String> OPENS = List.of("-XX:+IgnoreUnrecognizedVMOptions",
            "--add-opens=java.base/java.lang=ALL-UNNAMED", "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED",
            "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED", "--add-opens=java.base/java.io=ALL-UNNAMED",
            "--add-opens=java.base/java.net=ALL-UNNAMED", "--add-opens=java.base/java.nio=ALL-UNNAMED",
            "--add-opens=java.base/java.util=ALL-UNNAMED", "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
            "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED", "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.cs=ALL-UNNAMED", "--add-opens=java.base/sun.security.action=ALL-UNNAMED",
            "--add-opens=java.base/sun.util.calendar=ALL-UNNAMED", "-Djdk.reflect.useDirectMethodHandle=false",
            "-Dio.netty.tryReflectionSetAccessible=true");

    private ChildJvm() {}

    /** @return the java executable of the running JVM */
    static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** @return the classpath of the test JVM, one entry per element, empty entries dropped */
    static List<String> classpath() {
        List<String> cp = new ArrayList<>();
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
            if (!e.isBlank()) {
                cp.add(e);
            }
        }
        return cp;
    }

    /**
     * Freezes the project's part of the test classpath: classpath directories (the modules'
     * {@code target/classes}) are packed into jars and SNAPSHOT jars (the project's modules from
     * {@code ~/.m2}) are copied, into {@code dir}; released jars are kept where they are. Child
     * JVMs started later with the returned classpath all run the same code even while other
     * builds replace {@code target/classes} or re-install a module.
     *
     * @return the frozen classpath, in the test classpath's order
     */
    static List<String> snapshotClasspath(Path dir) throws IOException {
        Files.createDirectories(dir);
        List<String> cp = new ArrayList<>();
        int i = 0;
        for (String e : classpath()) {
            Path p = Path.of(e).toAbsolutePath();
            String base = p.getFileName() == null ? "root" : p.getFileName().toString();
            if (Files.isDirectory(p)) {
                Path module = p.getParent() == null ? null : p.getParent().getParent();
                Path jar = dir.resolve(i++ + "-" + (module == null || module.getFileName() == null ? ""
                        : module.getFileName() + "-") + base + ".jar");
                jar(p, jar);
                cp.add(jar.toString());
            } else if (Files.isRegularFile(p) && base.contains("-SNAPSHOT")) {
                Path copy = dir.resolve(i++ + "-" + base);
                Files.copy(p, copy, StandardCopyOption.REPLACE_EXISTING);
                cp.add(copy.toString());
            } else if (Files.exists(p)) {
                cp.add(p.toString());
            }
        }
        return cp;
    }

    /** Packs the files under {@code classes} into {@code jar}. */
    static void jar(Path classes, Path jar) throws IOException {
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar));
                Stream<Path> files = Files.walk(classes)) {
            for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
                out.putNextEntry(new JarEntry(classes.relativize(f).toString().replace(File.separatorChar, '/')));
                Files.copy(f, out);
                out.closeEntry();
            }
        }
    }

    /** Like {@link #command(String, String, List, List)} with the test JVM's classpath. */
    static List<String> command(String heap, String mainClass, List<String> args) {
        return command(heap, mainClass, args, classpath());
    }

    /**
     * @return {@code java <opens> -Dai.djl.offline=true -Xmx.. -cp <classpath> <main> <args>}, with
     *     the project's log4j2 configuration
     */
    static List<String> command(String heap, String mainClass, List<String> args, List<String> classpath) {
        List<String> cmd = new ArrayList<>();
        cmd.add(java());
        cmd.add("-Xmx" + heap);
        cmd.addAll(OPENS);
        cmd.add("-Dai.djl.offline=true");
        cmd.add("-Dlog4j2.configurationFile=" + TrainRuns.repo().resolve("conf/log4j2.properties"));
        cmd.add("-Drq.home=" + TrainRuns.repo());
        cmd.add("-cp");
        cmd.add(String.join(File.pathSeparator, classpath));
        cmd.add(mainClass);
        cmd.addAll(args);
        return cmd;
    }

    /** Starts {@code cmd} in {@code dir} with stdout and stderr appended to {@code log}. */
    static Process start(List<String> cmd, Path dir, Path log, Map<String, String> env) throws IOException {
        Files.createDirectories(log.toAbsolutePath().getParent());
        Files.writeString(log, "$ " + String.join(" ", cmd.subList(0, Math.min(cmd.size(), 3))) + " ... "
                + String.join(" ", cmd.subList(cmd.indexOf("-cp") + 2, cmd.size())) + "\n");
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.environment().putAll(env);
        return pb.start();
    }

    /**
     * Waits up to {@code timeout} for {@code p} to exit.
     *
     * @return its exit code
     * @throws AssertionError with the tail of {@code log} if it did not exit in time (it is killed)
     */
    static int await(Process p, Duration timeout, Path log) throws InterruptedException {
        if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            kill(p);
            throw new AssertionError("process did not exit within " + timeout + "; killed. Log " + log + ":\n"
                    + tail(log, 60));
        }
        return p.exitValue();
    }

    /** Kills {@code p} and its descendants, forcibly, and waits briefly for them to go. */
    static void kill(Process p) {
        if (p == null) {
            return;
        }
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        try {
            p.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** @return the last {@code n} lines of {@code log} ("" if it cannot be read) */
    static String tail(Path log, int n) {
        try {
            List<String> lines = new String(Files.readAllBytes(log), StandardCharsets.UTF_8).lines().toList();
            return String.join("\n", lines.subList(Math.max(0, lines.size() - n), lines.size()));
        } catch (IOException | RuntimeException e) {
            return "(cannot read " + log + ": " + e + ")";
        }
    }
}
