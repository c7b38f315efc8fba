package dev.rq.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * After packaging ({@code mvn -Passembly verify}; failsafe runs this in {@code integration-test}):
 * every file the Dockerfile copies exists, the assembled jar included; where a Docker engine and
 * the base image are available locally the CPU image is built and its engine check runs inside it,
 * otherwise that part is skipped with the reason printed (base images cannot be pulled on machines
 * without registry access).
 */
class DockerfileIT {

    static final Path REPO = DeployFiles.repo();

    @Test
    void everythingTheDockerfileCopiesExistsAfterPackaging() throws Exception {
        for (DeployFiles.Copy c : DeployFiles.dockerfileCopies()) {
            assertThat(REPO.resolve(c.source())).as("COPY %s (run mvn -Passembly package first)", c.source()).exists();
        }
        Path jar = REPO.resolve(DeployFiles.assembledJar());
        assertThat(Files.size(jar)).as("assembled jar").isGreaterThan(10L << 20);
    }

    @Test
    void theImageBuildsWhereDockerAndTheBaseImageAreAvailable() throws Exception {
        String base = baseImage();
        if (run(List.of("docker", "version", "--format", "{{.Server.Version}}")) != 0) {
            skip("no Docker engine on this machine (docker version failed)");
        }
        if (run(List.of("docker", "image", "inspect", base)) != 0) {
            skip("base image " + base + " is not available locally and is not pulled by tests (no registry access"
                    + " assumed): docker pull " + base + " first");
        }
        assertThat(run(List.of("docker", "build", "-f", "deploy/docker/Dockerfile", "--target", "cpu", "-t",
                "rq-test:cpu", "."))).as("docker build").isZero();
        assertThat(run(List.of("docker", "run", "--rm", "--entrypoint", "java", "rq-test:cpu", "-cp",
                "/opt/rq/rq.jar", "dev.rq.model.engine.EngineInfo"))).as("EngineInfo in the image").isZero();
    }

    private static String baseImage() throws Exception {
        for (String line : Files.readAllLines(REPO.resolve("deploy/docker/Dockerfile"))) {
            if (line.startsWith("ARG SPARK_IMAGE=")) {
                return line.substring("ARG SPARK_IMAGE=".length()).trim();
            }
        }
        throw new IllegalStateException("no ARG SPARK_IMAGE in the Dockerfile");
    }

    private static void skip(String reason) {
        System.out.println("DockerfileIT image build skipped: " + reason);
        Assumptions.abort(reason);
    }

    private static int run(List<String> command) throws Exception {
        try {
            Process p = new ProcessBuilder(command).directory(REPO.toFile()).inheritIO().start();
            if (!p.waitFor(30, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                return -1;
            }
            return p.exitValue();
        } catch (java.io.IOException e) {
            return -1; // no such program
        }
    }
}
