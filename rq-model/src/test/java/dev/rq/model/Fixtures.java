package dev.rq.model;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/** Locates the official parity fixtures: the shared directory and {@code -Drq.parity.fixtures}. */
public final class Fixtures {

    private Fixtures() {}

    /** @return the project's shared/ directory (beside the checkout) */
    public static Path sharedDir() {
        String p = System.getProperty("rq.shared.dir");
        if (p != null && !p.isBlank() && Files.isDirectory(Path.of(p))) {
            return Path.of(p).normalize();
        }
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null) {
            Path s = dir.resolveSibling("shared");
            if (Files.isDirectory(s.resolve("fixtures"))) {
                return s;
            }
            dir = dir.getParent();
        }
        throw new IllegalStateException("cannot find ../shared (set -Drq.shared.dir)");
    }

    /** @return every fixture directory: shared/fixtures/official-parity plus rq.parity.fixtures entries */
    public static List<Path> parityDirs() {
        Set<Path> dirs = new LinkedHashSet<>();
        dirs.add(sharedDir().resolve("fixtures/official-parity"));
        String extra = System.getProperty("rq.parity.fixtures", "");
        for (String s : extra.split(File.pathSeparator)) {
            if (!s.isBlank()) {
                Path p = Path.of(s).toAbsolutePath().normalize();
                if (!Files.isDirectory(p)) {
                    throw new IllegalArgumentException("rq.parity.fixtures entry is not a directory: " + p);
                }
                dirs.add(p);
            }
        }
        return new ArrayList<>(dirs);
    }

    /** @return every {@code *.config.json} in {@code dir}, sorted */
    public static List<Path> configs(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".config.json")).sorted().toList();
        }
    }
}
