package dev.rq.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.distributed.RingSettings;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * deploy/: the spark-submit templates (their {@code RQ_DRY_RUN=1} output), the GPU discovery
 * script (against a fake {@code nvidia-smi}), the Spark Operator manifests and the Dockerfile are
 * consistent with each other and name configs and files that exist.
 */
class DeployTest {

    static final Path REPO = DeployFiles.repo();
    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    record Run(int code, String out, String err) {}

    static Run bash(Map<String, String> env, String... command) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).directory(REPO.toFile());
        pb.environment().keySet().removeIf(k -> k.startsWith("RQ_") || k.equals("CUDA_VISIBLE_DEVICES"));
        pb.environment().putAll(env);
        Process p = pb.start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), out, err);
    }

    @Test
    void dryRunsPrintTheSubmitCommandOfEachClusterManager(@TempDir Path tmp) throws Exception {
        Path jar = Files.createFile(tmp.resolve("rq-all.jar"));
        Map<String, String> env = new HashMap<>(Map.of("RQ_DRY_RUN", "1", "RQ_JAR", jar.toString(),
                "SPARK_SUBMIT", "spark-submit", "RQ_MASTER", "spark://master:7077", "RQ_CORES_PER_RANK", "4"));
        String[] train = {"train-vae", "--conf", "conf/rqvae/in256-8x8x4.yaml", "--data", "hdfs:///data/imagenet/train",
                "--out", "hdfs:///runs/in256-rqvae", "--workers", "8"};

        Run standalone = bash(env, concat("deploy/standalone.sh", train));
        assertThat(standalone.code()).as(standalone.err()).isZero();
        assertThat(standalone.out()).startsWith("spark-submit --class dev.rq.cli.RqCli")
                .contains("--master spark://master:7077", "--deploy-mode client", "spark.cores.max=32",
                        "spark.executor.cores=4", "spark.task.cpus=4", "spark.dynamicAllocation.enabled=false",
                        "spark.speculation=false", "spark.barrier.sync.timeout=600",
                        "spark.kryo.registrator=dev.rq.jobs.RqKryoRegistrator", "-Dai.djl.offline=true",
                        jar + " train-vae --conf conf/rqvae/in256-8x8x4.yaml")
                .contains("spark.executorEnv.GLIBC_TUNABLES=" + SparkSessions.MALLOC_TUNABLES)
                .doesNotContain("resource.gpu", "spark.rq.ring.ports");

        // GPUs and firewall port ranges
        env.putAll(Map.of("RQ_GPUS_PER_RANK", "1", "RQ_RING_PORTS", "40000-40015", "RQ_PROGRESS_PORTS", "40100-40103"));
        Run gpu = bash(env, concat("deploy/standalone.sh", train));
        assertThat(gpu.code()).as(gpu.err()).isZero();
        assertThat(gpu.out()).contains("spark.executor.resource.gpu.amount=1", "spark.task.resource.gpu.amount=1",
                "spark.executor.resource.gpu.discoveryScript=" + REPO.resolve("deploy/gpu/discover-gpus.sh"),
                RingSettings.RING_PORTS + "=40000-40015", RingSettings.PROGRESS_PORTS + "=40100-40103");

        Run yarn = bash(env, concat("deploy/yarn.sh", train));
        assertThat(yarn.code()).as(yarn.err()).isZero();
        assertThat(yarn.out()).contains("--master yarn", "--deploy-mode cluster", "--num-executors 8",
                "--files conf/rqvae/in256-8x8x4.yaml", "train-vae --conf in256-8x8x4.yaml",
                "spark.yarn.appMasterEnv.GLIBC_TUNABLES=" + SparkSessions.MALLOC_TUNABLES);

        Map<String, String> k8sEnv = new HashMap<>(env);
        k8sEnv.remove("RQ_JAR");
        k8sEnv.putAll(Map.of("RQ_K8S_MASTER", "k8s://https://api.example:6443", "RQ_IMAGE", "registry.example/rq:1"));
        Run k8s = bash(k8sEnv, "deploy/k8s.sh", "train-vae", "--conf", "/opt/rq/conf/rqvae/in256-8x8x4.yaml",
                "--data", "s3a://b/train", "--out", "s3a://b/run", "--workers", "8");
        assertThat(k8s.code()).as(k8s.err()).isZero();
        assertThat(k8s.out()).contains("--master k8s://https://api.example:6443", "spark.executor.instances=8",
                "spark.kubernetes.container.image=registry.example/rq:1",
                "spark.executor.resource.gpu.discoveryScript=/opt/rq/bin/discover-gpus.sh",
                "spark.executor.resource.gpu.vendor=nvidia.com",
                "spark.kubernetes.executor.podTemplateFile=/opt/rq/k8s/gpu-executor-pod-template.yaml",
                "spark.kubernetes.driverEnv.GLIBC_TUNABLES=" + SparkSessions.MALLOC_TUNABLES,
                "local:///opt/rq/rq.jar train-vae");
        // the same malloc settings wherever a JVM that runs libtorch starts (one value, no drift)
        for (String f : List.of("bin/rq", "deploy/common.sh", "deploy/docker/Dockerfile", "pom.xml")) {
            assertThat(Files.readString(REPO.resolve(f))).as(f).contains(SparkSessions.MALLOC_TUNABLES);
        }
        env.put("RQ_MALLOC_TUNABLES", "");
        assertThat(bash(env, concat("deploy/standalone.sh", train)).out()).doesNotContain("GLIBC_TUNABLES");
        env.remove("RQ_MALLOC_TUNABLES");

        // errors: a barrier stage needs exactly --workers slots; no jar
        env.put("RQ_RANKS", "4");
        Run mismatch = bash(env, concat("deploy/standalone.sh", train));
        assertThat(mismatch.code()).isEqualTo(2);
        assertThat(mismatch.err()).contains("RQ_RANKS=4 but --workers 8");
        env.remove("RQ_RANKS");
        env.put("RQ_JAR", tmp.resolve("missing.jar").toString());
        Run noJar = bash(env, concat("deploy/standalone.sh", train));
        assertThat(noJar.code()).isEqualTo(2);
        assertThat(noJar.err()).contains("no assembled jar");
    }

    @Test
    void discoveryScriptReportsTheOrdinalsThisProcessSees(@TempDir Path tmp) throws Exception {
        Path smi = tmp.resolve("nvidia-smi");
        Files.writeString(smi, "#!/usr/bin/env bash\n"
                + "[[ \"$*\" == *--query-gpu=index,uuid* ]] || exit 9\n"
                + "printf '0, GPU-aaaa-0000\\n1, GPU-bbbb-1111\\n2, GPU-cccc-2222\\n3, GPU-dddd-3333\\n'\n");
        smi.toFile().setExecutable(true);
        String script = "deploy/gpu/discover-gpus.sh";
        Map<String, String> env = new HashMap<>(Map.of("RQ_NVIDIA_SMI", smi.toString()));
        assertThat(addresses(bash(env, script))).containsExactly("0", "1", "2", "3");
        env.put("CUDA_VISIBLE_DEVICES", "2,3");
        assertThat(addresses(bash(env, script))).containsExactly("0", "1");
        env.put("CUDA_VISIBLE_DEVICES", "GPU-dddd");
        assertThat(addresses(bash(env, script))).containsExactly("0");
        env.put("CUDA_VISIBLE_DEVICES", "1,7,2"); // CUDA stops at the first device it cannot resolve
        assertThat(addresses(bash(env, script))).containsExactly("0");
        env.put("CUDA_VISIBLE_DEVICES", "");
        assertThat(addresses(bash(env, script))).isEmpty();
        env.put("CUDA_VISIBLE_DEVICES", "-1");
        assertThat(addresses(bash(env, script))).isEmpty();
        Run missing = bash(Map.of("RQ_NVIDIA_SMI", tmp.resolve("none").toString()), script);
        assertThat(missing.code()).isEqualTo(1);
        assertThat(missing.err()).contains("not found");
    }

    private static List<String> addresses(Run r) throws IOException {
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode n = new ObjectMapper().readTree(r.out());
        assertThat(n.get("name").asText()).isEqualTo("gpu");
        List<String> out = new ArrayList<>();
        n.get("addresses").forEach(a -> out.add(a.asText()));
        return out;
    }

    @Test
    void sparkOperatorManifestsMatchTheImageAndTheTrainingNeeds() throws Exception {
        Map<String, String> copied = new HashMap<>();
        DeployFiles.dockerfileCopies().forEach(c -> copied.put(c.destination(), c.source()));
        for (String name : List.of("train-vae.yaml", "tokenize.yaml")) {
            JsonNode app = YAML.readTree(REPO.resolve("deploy/k8s/" + name).toFile());
            assertThat(app.get("kind").asText()).isEqualTo("SparkApplication");
            assertThat(app.get("apiVersion").asText()).isEqualTo("sparkoperator.k8s.io/v1beta2");
            JsonNode spec = app.get("spec");
            assertThat(spec.get("mainClass").asText()).isEqualTo("dev.rq.cli.RqCli");
            assertThat(spec.get("mainApplicationFile").asText()).isEqualTo("local:///opt/rq/rq.jar");
            assertThat(copied).containsKey("/opt/rq/rq.jar");
            assertThat(spec.get("sparkVersion").asText()).startsWith("4.0.");
            JsonNode conf = spec.get("sparkConf");
            assertThat(conf.get("spark.kryo.registrationRequired").asText()).isEqualTo("true");
            assertThat(conf.get("spark.executor.extraJavaOptions").asText()).contains("-Dai.djl.offline=true");
            // paths inside the image are ones the Dockerfile puts there
            assertThat(conf.get("spark.executor.resource.gpu.discoveryScript").asText())
                    .isEqualTo("/opt/rq/bin/discover-gpus.sh").satisfies(p -> assertThat(copied).containsKey(p));
            assertThat(conf.get("spark.kubernetes.executor.podTemplateFile").asText())
                    .satisfies(p -> assertThat(copied).containsKey(p));
            assertThat(REPO.resolve(copied.get(conf.get("spark.kubernetes.executor.podTemplateFile").asText())))
                    .exists();
        }
        JsonNode train = YAML.readTree(REPO.resolve("deploy/k8s/train-vae.yaml").toFile()).get("spec");
        List<String> args = new ArrayList<>();
        train.get("arguments").forEach(a -> args.add(a.asText()));
        int workers = Integer.parseInt(args.get(args.indexOf("--workers") + 1));
        assertThat(train.get("executor").get("instances").asInt()).as("one executor per rank").isEqualTo(workers);
        JsonNode conf = train.get("sparkConf");
        assertThat(conf.get("spark.task.cpus").asInt()).as("one task slot per executor")
                .isEqualTo(train.get("executor").get("cores").asInt());
        assertThat(conf.get("spark.dynamicAllocation.enabled").asText()).isEqualTo("false");
        assertThat(conf.get("spark.speculation").asText()).isEqualTo("false");
        int ports = Integer.parseInt(conf.get(RingSettings.RING_PORTS).asText().split("-")[1])
                - Integer.parseInt(conf.get(RingSettings.RING_PORTS).asText().split("-")[0]) + 1;
        assertThat(ports).as("a ring port per rank").isGreaterThanOrEqualTo(workers);
        JsonNode template = YAML.readTree(REPO.resolve("deploy/k8s/gpu-executor-pod-template.yaml").toFile());
        assertThat(template.get("spec").get("nodeSelector").size()).isPositive();
        assertThat(template.get("spec").get("tolerations").get(0).get("key").asText()).isEqualTo("nvidia.com/gpu");
    }

    /** Every {@code conf/…} file (or {@code /opt/rq/conf/…} inside the image) that deploy material names exists. */
    @Test
    void everyConfigTheDeployMaterialNamesExists() throws Exception {
        Pattern conf = Pattern.compile("(?:/opt/rq/)?(conf/[A-Za-z0-9_./-]+\\.(?:yaml|properties))");
        Set<String> named = new LinkedHashSet<>();
        List<Path> files = new ArrayList<>();
        try (Stream<Path> s = Files.walk(REPO.resolve("deploy"))) {
            s.filter(Files::isRegularFile).forEach(files::add);
        }
        files.add(REPO.resolve("README.md"));
        for (Path f : files) {
            Matcher m = conf.matcher(Files.readString(f));
            while (m.find()) {
                named.add(m.group(1) + " (in " + REPO.relativize(f) + ")");
                assertThat(REPO.resolve(m.group(1))).as("%s names %s", REPO.relativize(f), m.group(1)).exists();
            }
        }
        assertThat(named).as("configs named by deploy/").anyMatch(n -> n.startsWith("conf/rqvae/in256-8x8x4.yaml"));
    }

    /**
     * Everything the Dockerfile copies comes from the repository: files and folders that exist, and
     * the assembled jar under the name the assembly profile gives it ({@code DockerfileIT} checks
     * the jar itself after {@code mvn -Passembly package}).
     */
    @Test
    void dockerfileCopiesRepositoryFilesAndTheAssembledJar() throws Exception {
        List<DeployFiles.Copy> copies = DeployFiles.dockerfileCopies();
        assertThat(copies).extracting(DeployFiles.Copy::destination)
                .contains("/opt/rq/rq.jar", "/opt/rq/conf/", "/opt/rq/bin/discover-gpus.sh");
        String jar = DeployFiles.assembledJar();
        for (DeployFiles.Copy c : copies) {
            if (c.source().endsWith(".jar")) {
                assertThat(c.source()).as("the Dockerfile copies the jar the assembly profile writes").isEqualTo(jar);
            } else {
                assertThat(REPO.resolve(c.source())).as("COPY %s", c.source()).exists();
            }
        }
        String dockerfile = Files.readString(REPO.resolve("deploy/docker/Dockerfile"));
        assertThat(dockerfile).contains("DJL_CACHE_DIR=/opt/rq/djl-cache", "dev.rq.model.engine.EngineInfo",
                "AS gpu", "AS cpu", "PYTORCH_LIBRARY_PATH=/opt/libtorch/lib", "PYTORCH_FLAVOR=cu128",
                "apache/spark:4.0.");
    }

    private static String[] concat(String first, String... rest) {
        String[] out = new String[rest.length + 1];
        out[0] = first;
        System.arraycopy(rest, 0, out, 1, rest.length);
        return out;
    }
}
