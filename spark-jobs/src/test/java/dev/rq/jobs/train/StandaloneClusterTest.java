package dev.rq.jobs.train;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rq.jobs.RqKryoRegistrator;
import dev.rq.model.config.RqVaeRunConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;
import org.apache.spark.SparkExecutorInfo;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The trainer on a real multi-process Spark standalone cluster on 127.0.0.1 (a Master and two
 * 1-core Workers as separate JVMs, each Worker launching one executor JVM; see {@link
 * SparkStandalone}), driven from this JVM: Kryo with registration required across processes,
 * libtorch loaded in each executor JVM, the TCP ring between executors and the progress channel
 * to the driver. The final weights must be bit-identical to those of a local[2] run of the same
 * configuration ({@code rq train-vae} in a child JVM, concurrently, on the same frozen project
 * classpath as the executors, so that other builds replacing {@code target/classes} or the
 * installed rq-model jar meanwhile cannot make the two runs execute different code).
 *
 * <p>Daemon and executor logs are kept under {@code target/standalone-cluster-test/}; their tails
 * are printed on failure.
 */
class StandaloneClusterTest {

    static final Duration JOB_TIMEOUT = Duration.ofSeconds(240);

    @TempDir static Path tmp;
    static SparkStandalone cluster;
    static SparkSession spark;
    static Process local;

    @AfterAll
    static void stop() {
        try {
            if (spark != null) {
                spark.stop();
            }
        } finally {
            ChildJvm.kill(local);
            if (cluster != null) {
                cluster.close();
            }
        }
    }

    static Path logDir() throws IOException {
        Path dir = Path.of("target", "standalone-cluster-test").toAbsolutePath();
        if (Files.exists(dir)) {
            try (Stream<Path> s = Files.walk(dir)) { // symlinks are deleted, not followed
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
        return dir;
    }

    @Test
    void twoExecutorJvmsOnAStandaloneClusterTrainBitIdenticallyToLocal() throws Throwable {
        RqVaeRunConfig config = TrainRuns.config(); // = tiny.yaml + TrainRuns.overrides()
        Path dir = logDir();
        Path runs = dir.resolve("runs"); // kept for inspection
        long t0 = System.nanoTime();
        cluster = SparkStandalone.start(dir, 2, 1, "2g", Duration.ofSeconds(90));
        long t1 = System.nanoTime();
        // the local[2] reference: `rq train-vae` with the same settings in a child JVM on the same frozen
        // classpath as the executors, while the cluster trains
        List<String> args = new ArrayList<>(List.of("train-vae", "--conf", "conf/rqvae/tiny.yaml", "--data",
                TrainRuns.data(), "--out", runs.resolve("local").toString(), "--workers", "2"));
        for (String o : TrainRuns.overrides()) {
            args.addAll(List.of("--set", o));
        }
        Path localLog = dir.resolve("local-reference.log");
        local = ChildJvm.start(ChildJvm.command("2g", "dev.rq.cli.RqCli", args, cluster.classpath()),
                TrainRuns.repo(), localLog, Map.of());
        try {
            spark = SparkSession.builder().appName("rq standalone-cluster-test").master(cluster.masterUrl())
                    .config("spark.driver.host", "127.0.0.1")
                    .config("spark.driver.bindAddress", "127.0.0.1")
                    .config("spark.ui.enabled", "false")
                    .config("spark.ui.showConsoleProgress", "false")
                    .config("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                    .config("spark.kryo.registrationRequired", "true")
                    .config("spark.kryo.registrator", RqKryoRegistrator.class.getName())
                    .config("spark.speculation", "false")
                    .config("spark.dynamicAllocation.enabled", "false")
                    .config("spark.barrier.sync.timeout", "600")
                    .config("spark.executor.cores", "1")
                    .config("spark.task.cpus", "1")
                    .config("spark.cores.max", "2")
                    .config("spark.executor.memory", "1g")
                    .config("spark.executor.extraClassPath", cluster.extraClassPath())
                    .config("spark.executor.extraJavaOptions", "-Dai.djl.offline=true -Dlog4j2.configurationFile="
                            + cluster.sparkHome().resolve("conf/log4j2.properties"))
                    .config("spark.scheduler.barrier.maxConcurrentTasksCheck.interval", "1s")
                    .config("spark.local.dir", tmp.resolve("spark-local").toString())
                    .getOrCreate();
            awaitExecutors(2, Duration.ofSeconds(180));
            long t3 = System.nanoTime();
            TrainingJob.Result r = withTimeout(() -> TrainRuns.train(spark, config,
                    runs.resolve("cluster"), 2, null, Duration.ofSeconds(60)));
            long t4 = System.nanoTime();
            int localExit = ChildJvm.await(local, Duration.ofSeconds(240), localLog);
            assertThat(localExit).as("local[2] reference run; log:%n%s", ChildJvm.tail(localLog, 40)).isZero();
            String reference = KilledRuns.weightsSha(KilledRuns.local(runs.resolve("local")), TrainRuns.STEPS);
            long t5 = System.nanoTime();

            assertThat(r.steps()).isEqualTo(TrainRuns.STEPS);
            assertThat(r.submissions()).as("no failed attempt").isEqualTo(1);
            assertThat(r.weightsSha256()).as("final weights of the cluster run; losses per step:%n local   %s%n"
                            + " cluster %s", losses(runs.resolve("local")), losses(runs.resolve("cluster")))
                    .matches("[0-9a-f]{64}").isEqualTo(reference);
            assertThat(TrainRuns.finalWeights(runs.resolve("cluster")))
                    .usingRecursiveComparison().isEqualTo(TrainRuns.finalWeights(runs.resolve("local")));
            // the ranks really ran in two executor JVMs, one per worker
            for (String w : List.of("work-1", "work-2")) {
                try (Stream<Path> s = Files.walk(dir.resolve(w))) {
                    assertThat(s.filter(p -> p.getFileName().toString().equals("stderr")).count())
                            .as("executor launched by %s", w).isEqualTo(1);
                }
            }
            System.out.printf("StandaloneClusterTest: cluster up %.1f s, executors registered %.1f s, cluster"
                    + " training %.1f s, local[2] child done %.1f s later%n", (t1 - t0) / 1e9, (t3 - t1) / 1e9,
                    (t4 - t3) / 1e9, (t5 - t4) / 1e9);
        } catch (Throwable e) {
            System.err.println("StandaloneClusterTest failed; cluster logs:\n" + cluster.diagnostics());
            throw e;
        }
    }

    static List<Double> losses(Path run) throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<Double> l = new ArrayList<>();
        for (String line : TrainRuns.metrics(run)) {
            l.add(json.readTree(line).get("loss").asDouble());
        }
        return l;
    }

    /** Waits until {@code n} executors (besides the driver) have registered. */
    static void awaitExecutors(int n, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        SparkExecutorInfo[] infos = spark.sparkContext().statusTracker().getExecutorInfos();
        while (infos.length < n + 1) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("only " + (infos.length - 1) + " of " + n + " executors registered within "
                        + timeout);
            }
            Thread.sleep(200);
            infos = spark.sparkContext().statusTracker().getExecutorInfos();
        }
    }

    /** Runs {@code job}, cancelling Spark's jobs and failing if it takes longer than {@link #JOB_TIMEOUT}. */
    static <T> T withTimeout(Callable<T> job) throws Throwable {
        ExecutorService ex = Executors.newSingleThreadExecutor();
        try {
            Future<T> f = ex.submit(job);
            try {
                return f.get(JOB_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                spark.sparkContext().cancelAllJobs();
                f.cancel(true);
                throw new AssertionError("training on the cluster did not finish within " + JOB_TIMEOUT);
            } catch (ExecutionException e) {
                throw e.getCause();
            }
        } finally {
            ex.shutdownNow();
        }
    }
}
