package dev.rq.model;

import java.nio.file.Files;
import java.nio.file.Path;

/** Paths inside the repository checkout, for tests. */
public final class Repo {

    private Repo() {}

    /** @return the repository root (the directory holding conf/) */
    public static Path root() {
        String p = System.getProperty("rq.repo.dir");
        if (p != null && Files.isDirectory(Path.of(p, "conf"))) {
            return Path.of(p);
        }
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isDirectory(dir.resolve("conf"))) {
            dir = dir.getParent();
        }
        if (dir == null) {
            throw new IllegalStateException("cannot find the repository root (set -Drq.repo.dir)");
        }
        return dir;
    }

    /** @return a file under conf/ */
    public static Path conf(String relative) {
        return root().resolve("conf").resolve(relative);
    }
}
