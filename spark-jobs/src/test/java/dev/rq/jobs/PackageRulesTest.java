package dev.rq.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The package rules of docs/architecture.md, read from the source files: every job has a package of
 * its own (the classes directly in dev.rq.jobs and in its shared packages are no job and import
 * none); jobs do not use each other's classes, nor a pipeline's (dev.rq.pipelines: the quickstarts
 * that run several jobs) or a command's; the layers below the jobs use no job, pipeline or command class; the ring is
 * Spark-free and the model library uses neither Spark nor this module.
 */
class PackageRulesTest {

    /** Job-independent packages under dev.rq.jobs that every job may use. */
    static final Set<String> SHARED = Set.of("distributed");

    static final Pattern JOB_REF = Pattern.compile("dev\\.rq\\.jobs\\.([a-z]+)\\.[A-Z]\\w*");
    static final Pattern COMMENT = Pattern.compile("(?s)/\\*.*?\\*/|//[^\\n]*");

    static Path root() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isDirectory(dir.resolve("rq-model"))) {
            dir = dir.getParent();
        }
        assertThat(dir).as("repository root above %s", Path.of("").toAbsolutePath()).isNotNull();
        return dir;
    }

    /** @return the code of every Java file below {@code dir}, comments removed, with its path */
    static List<Map.Entry<Path, String>> sources(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            List<Map.Entry<Path, String>> out = new ArrayList<>();
            for (Path p : s.filter(f -> f.toString().endsWith(".java")).sorted().toList()) {
                out.add(Map.entry(p, COMMENT.matcher(Files.readString(p)).replaceAll("")));
            }
            assertThat(out).as("sources under %s", dir).isNotEmpty();
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Path main() {
        return root().resolve("spark-jobs/src/main/java/dev/rq");
    }

    @Test
    void noJobUsesAnotherJobsClassesOrAPipeline() throws IOException {
        List<String> violations = new ArrayList<>();
        try (Stream<Path> jobs = Files.list(main().resolve("jobs"))) {
            for (Path pkg : jobs.filter(Files::isDirectory).sorted().toList()) {
                String job = pkg.getFileName().toString();
                if (SHARED.contains(job)) {
                    continue;
                }
                for (Map.Entry<Path, String> f : sources(pkg)) {
                    if (f.getValue().contains("dev.rq.pipelines") || f.getValue().contains("dev.rq.cli")) {
                        violations.add(main().relativize(f.getKey()) + " uses a pipeline or command");
                    }
                    Matcher m = JOB_REF.matcher(f.getValue());
                    while (m.find()) {
                        String other = m.group(1);
                        if (!other.equals(job) && !SHARED.contains(other)) {
                            violations.add(main().relativize(f.getKey()) + " uses " + m.group());
                        }
                    }
                }
            }
        }
        assertThat(violations).isEmpty();
    }

    @Test
    void everyJobHasItsOwnPackageAndTheSharedOnesUseNoJob() throws IOException {
        List<String> violations = new ArrayList<>();
        Pattern jobImport = Pattern.compile("import dev\\.rq\\.jobs\\.([a-z]+)\\.");
        List<Path> shared = new ArrayList<>();
        try (Stream<Path> root = Files.list(main().resolve("jobs"))) {
            root.filter(f -> f.toString().endsWith(".java")).forEach(shared::add); // JobGroup, SparkSessions, ...
        }
        for (String pkg : SHARED) {
            sources(main().resolve("jobs").resolve(pkg)).forEach(f -> shared.add(f.getKey()));
        }
        for (Path f : shared) {
            String name = f.getFileName().toString();
            if (name.endsWith("Job.java")) {
                violations.add(main().relativize(f) + " is a job outside a job package");
            }
            Matcher m = jobImport.matcher(COMMENT.matcher(Files.readString(f)).replaceAll(""));
            while (m.find()) {
                if (!SHARED.contains(m.group(1))) {
                    violations.add(main().relativize(f) + " imports job package " + m.group(1));
                }
            }
        }
        assertThat(shared).as("the shared classes of dev.rq.jobs").isNotEmpty();
        assertThat(violations).isEmpty();
    }

    @Test
    void theLayersBelowTheJobsUseNoJobOrCommand() {
        List<String> violations = new ArrayList<>();
        for (String layer : List.of("tables", "data", "io", "executor", "collective", "report")) {
            for (Map.Entry<Path, String> f : sources(main().resolve(layer))) {
                if (f.getValue().contains("dev.rq.jobs") || f.getValue().contains("dev.rq.cli")
                        || f.getValue().contains("dev.rq.pipelines")) {
                    violations.add(main().relativize(f.getKey()).toString());
                }
                if (layer.equals("collective") && f.getValue().contains("org.apache.spark")) {
                    violations.add(main().relativize(f.getKey()) + " (Spark in the ring)");
                }
            }
        }
        assertThat(violations).isEmpty();
    }

    @Test
    void theTokenTablesUseNoImageData() {
        // dev.rq.data (the loaders stream token tables) stands above dev.rq.tables: a table never decodes images
        List<String> violations = new ArrayList<>();
        for (Map.Entry<Path, String> f : sources(main().resolve("tables"))) {
            if (COMMENT.matcher(f.getValue()).replaceAll("").contains("dev.rq.data.")) {
                violations.add(main().relativize(f.getKey()).toString());
            }
        }
        assertThat(violations).isEmpty();
    }

    @Test
    void theModelLibraryUsesNeitherSparkNorTheJobs() {
        List<String> violations = new ArrayList<>();
        for (Map.Entry<Path, String> f : sources(root().resolve("rq-model/src/main/java"))) {
            for (String banned : List.of("org.apache.spark", "dev.rq.jobs", "dev.rq.cli", "dev.rq.tables",
                    "dev.rq.pipelines")) {
                if (f.getValue().contains(banned)) {
                    violations.add(f.getKey().getFileName() + " uses " + banned);
                }
            }
        }
        assertThat(violations).isEmpty();
    }
}
