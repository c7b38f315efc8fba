package dev.rq.deploy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The repository's deploy/ files as the tests read them. */
final class DeployFiles {

    private DeployFiles() {}

    /** @return the repository root (the directory holding conf/ and deploy/) */
    static Path repo() {
        String p = System.getProperty("rq.repo.dir");
        Path dir = p != null ? Path.of(p) : Path.of("").toAbsolutePath();
        while (dir != null && !Files.isDirectory(dir.resolve("deploy"))) {
            dir = dir.getParent();
        }
        return dir;
    }

    /** One {@code COPY src dest} of the Dockerfile. */
    record Copy(String source, String destination) {}

    /** @return the COPY instructions of deploy/docker/Dockerfile (no --from copies) */
    static List<Copy> dockerfileCopies() throws IOException {
        List<Copy> out = new ArrayList<>();
        for (String line : Files.readAllLines(repo().resolve("deploy/docker/Dockerfile"))) {
            String l = line.trim();
            if (l.startsWith("COPY ") && !l.contains("--from")) {
                String[] parts = l.substring(5).trim().split("\\s+");
                out.add(new Copy(parts[0], parts[parts.length - 1]));
            }
        }
        return out;
    }

    /** @return the jar the assembly profile writes: {@code spark-jobs/target/<artifactId>-<version>-<classifier>.jar} */
    static String assembledJar() throws IOException {
        String parent = Files.readString(repo().resolve("pom.xml"));
        String jobs = Files.readString(repo().resolve("spark-jobs/pom.xml"));
        String version = first(parent, "<version>([^<]+)</version>");
        String artifact = first(jobs.substring(jobs.indexOf("</parent>")), "<artifactId>([^<]+)</artifactId>");
        String classifier = first(jobs, "<shadedClassifierName>([^<]+)</shadedClassifierName>");
        return "spark-jobs/target/" + artifact + "-" + version + "-" + classifier + ".jar";
    }

    private static String first(String text, String regex) {
        Matcher m = Pattern.compile(regex).matcher(text);
        if (!m.find()) {
            throw new IllegalStateException("no " + regex);
        }
        return m.group(1);
    }
}
