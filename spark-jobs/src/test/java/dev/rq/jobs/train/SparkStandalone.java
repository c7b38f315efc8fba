package dev.rq.jobs.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * A Spark standalone cluster of separate JVM processes on 127.0.0.1, built from the test JVM's
 * classpath (the Maven-resolved Spark jars, no Spark distribution): one Master and {@code n}
 * Workers, each Worker launching its executors as further JVMs.
 *
 * <p>Workers build executor commands with Spark's launcher ({@code WorkerCommandBuilder}), which
 * puts {@code $SPARK_HOME/jars/*} on the executor classpath and needs {@code SPARK_SCALA_VERSION}.
 * The harness makes a SPARK_HOME whose {@code jars/} holds a symlink to every jar of the test
 * classpath, and whose {@code conf/} (also on the executor classpath) holds the project's
 * log4j2 configuration. The project's own classes (the modules' {@code target/classes} and
 * SNAPSHOT jars) are frozen into {@code classpath/} when the cluster starts ({@link
 * ChildJvm#snapshotClasspath}: concurrent rebuilds cannot reach the executors half-way) and stay
 * out of {@code jars/}: pass {@link #extraClassPath()} as {@code spark.executor.extraClassPath}.
 *
 * <p>Everything lives in one directory (e.g. under {@code target/}): {@code spark-home/},
 * {@code master.log}, {@code worker-i.log} and each worker's work directory {@code work-i/}
 * with the executors' {@code stdout}/{@code stderr}. {@link #close()} kills every process,
 * executors included.
 */
final class SparkStandalone implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final Path home;
    private final List<String> directories = new ArrayList<>();
    private final List<Process> processes = new ArrayList<>();
    private final List<Path> logs = new ArrayList<>();
    private int masterPort;
    private int masterUiPort;

    private SparkStandalone(Path dir) {
        this.dir = dir;
        this.home = dir.resolve("spark-home");
    }

    /**
     * Starts a Master and {@code workers} Workers of {@code cores} cores and {@code memory} each
     * and waits until all Workers are registered.
     *
     * @param dir an empty or absent directory for SPARK_HOME, logs and work directories
     */
    static SparkStandalone start(Path dir, int workers, int cores, String memory, Duration timeout)
            throws IOException, InterruptedException {
        SparkStandalone c = new SparkStandalone(dir.toAbsolutePath());
        try {
            c.makeSparkHome();
            int[] ports = freePorts(2 + workers); // distinct: two probes one after the other may return the same port
            c.masterPort = ports[0];
            c.masterUiPort = ports[1];
            c.launch("master", "org.apache.spark.deploy.master.Master", List.of("--host", "127.0.0.1",
                    "--port", String.valueOf(c.masterPort), "--webui-port", String.valueOf(c.masterUiPort)));
            for (int i = 1; i <= workers; i++) {
                Path work = Files.createDirectories(c.dir.resolve("work-" + i));
                c.launch("worker-" + i, "org.apache.spark.deploy.worker.Worker", List.of("--host", "127.0.0.1",
                        "--cores", String.valueOf(cores), "--memory", memory,
                        "--webui-port", String.valueOf(ports[1 + i]), "--work-dir", work.toString(), c.masterUrl()));
            }
            c.awaitWorkers(workers, timeout);
            return c;
        } catch (IOException | InterruptedException | RuntimeException | Error e) {
            String diag = c.diagnostics();
            c.close();
            throw new IllegalStateException("cannot start the standalone cluster: " + e + "\n" + diag, e);
        }
    }

    /** @return {@code spark://127.0.0.1:<port>} */
    String masterUrl() {
        return "spark://127.0.0.1:" + masterPort;
    }

    /** @return the frozen project jars, for {@code spark.executor.extraClassPath} */
    String extraClassPath() {
        return String.join(File.pathSeparator, directories);
    }

    /** @return the fake SPARK_HOME */
    Path sparkHome() {
        return home;
    }

    private void makeSparkHome() throws IOException {
        Path jars = Files.createDirectories(home.resolve("jars"));
        Set<String> names = new HashSet<>();
        for (String e : ChildJvm.snapshotClasspath(dir.resolve("classpath"))) {
            Path p = Path.of(e);
            if (p.getFileName().toString().endsWith(".jar") && p.startsWith(dir)) {
                directories.add(p.toString()); // the project's own classes and modules (frozen copies)
            } else if (p.getFileName().toString().endsWith(".jar")) {
                String name = p.getFileName().toString();
                for (int k = 2; !names.add(name); k++) { // same file name from two groups
                    name = k + "-" + p.getFileName();
                }
                Files.createSymbolicLink(jars.resolve(name), p);
            }
        }
        Path conf = Files.createDirectories(home.resolve("conf"));
        Files.copy(TrainRuns.repo().resolve("conf/log4j2.properties"), conf.resolve("log4j2.properties"));
    }

    /** @return the daemons' classpath: the frozen project jars, then {@code jars/*} */
    List<String> classpath() {
        List<String> cp = new ArrayList<>(directories);
        cp.add(home.resolve("jars") + File.separator + "*");
        return cp;
    }

    /** The environment of every daemon (inherited by the executors they launch). */
    private Map<String, String> env() {
        return Map.of("SPARK_HOME", home.toString(), "SPARK_SCALA_VERSION", "2.13",
                "SPARK_CONF_DIR", home.resolve("conf").toString(), "SPARK_LOCAL_IP", "127.0.0.1",
                "JAVA_HOME", System.getProperty("java.home"));
    }

    private void launch(String name, String mainClass, List<String> args) throws IOException {
        Path log = dir.resolve(name + ".log");
        List<String> cmd = ChildJvm.command("512m", mainClass, args, classpath());
        logs.add(log);
        processes.add(ChildJvm.start(cmd, dir, log, env()));
    }

    private void awaitWorkers(int n, Duration timeout) throws IOException, InterruptedException {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + masterUiPort + "/json/"))
                .timeout(Duration.ofSeconds(5)).build();
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "no answer";
        while (System.nanoTime() < deadline) {
            for (int i = 0; i < processes.size(); i++) {
                if (!processes.get(i).isAlive()) {
                    throw new IllegalStateException(logs.get(i).getFileName() + " exited with "
                            + processes.get(i).exitValue());
                }
            }
            try {
                HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    JsonNode j = JSON.readTree(r.body());
                    last = "alive workers: " + j.path("aliveworkers").asInt() + ", status " + j.path("status").asText();
                    if (j.path("aliveworkers").asInt() >= n && "ALIVE".equals(j.path("status").asText())) {
                        return;
                    }
                }
            } catch (IOException e) {
                last = e.toString();
            }
            Thread.sleep(250);
        }
        throw new IllegalStateException("workers not registered within " + timeout + " (" + last + ")");
    }

    /** @return the last lines of every daemon log and executor stderr, for failure messages */
    String diagnostics() {
        StringBuilder s = new StringBuilder();
        List<Path> all = new ArrayList<>(logs);
        try (Stream<Path> files = Files.exists(dir) ? Files.walk(dir) : Stream.empty()) {
            files.filter(p -> p.getFileName().toString().equals("stderr") && Files.isRegularFile(p))
                    .sorted(Comparator.naturalOrder()).forEach(all::add);
        } catch (IOException | UncheckedIOException e) {
            s.append("(cannot list ").append(dir).append(": ").append(e).append(")\n");
        }
        for (Path p : all) {
            s.append("==== ").append(p).append(" (last 40 lines) ====\n").append(ChildJvm.tail(p, 40)).append('\n');
        }
        return s.toString();
    }

    /** Kills the daemons and their executors. */
    @Override
    public void close() {
        for (int i = processes.size() - 1; i >= 0; i--) { // workers (and their executors) first
            ChildJvm.kill(processes.get(i));
        }
        processes.clear();
    }

    /**
     * @return {@code n} distinct free loopback ports, all held open while they are chosen (probing one port at a
     *     time can return the same port twice: then the Master's RPC and web UI were asked for one port, the UI
     *     moved to the next one, and polling the UI port reached the RPC server — "Too large frame")
     */
    static int[] freePorts(int n) throws IOException {
        List<ServerSocket> open = new ArrayList<>();
        try {
            int[] ports = new int[n];
            for (int i = 0; i < n; i++) {
                ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"));
                open.add(s);
                ports[i] = s.getLocalPort();
            }
            return ports;
        } finally {
            for (ServerSocket s : open) {
                s.close();
            }
        }
    }
}
