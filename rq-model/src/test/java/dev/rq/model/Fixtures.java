package dev.rq.model;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Locates the official parity fixtures (see {@code src/test/resources/fixtures/README.md}), in
 * this order:
 *
 * <ol>
 *   <li>the repository's own copy, {@code rq-model/src/test/resources/fixtures/official-parity}
 *       (so the suite passes on a bare clone);
 *   <li>{@link #SHARED_SUBDIRS} under {@code shared/fixtures/} when a {@code shared/} folder lies
 *       beside the checkout (or {@code -Drq.shared.dir} names one), then the fixtures of the
 *       implemented kinds of {@link #SHARED_PARTIAL} there (the others are {@link #pending()});
 *   <li>every directory of {@code -Drq.parity.fixtures} (path-separator separated).
 * </ol>
 *
 * A fixture whose files are byte-identical to one listed before is dropped (it is the same
 * fixture); one with the same stem but other content is kept and named after its directory.
 */
public final class Fixtures {

    /** The official fixture directories under {@code shared/fixtures/} whose kinds are implemented. */
    public static final List<String> SHARED_SUBDIRS = List.of("official-parity", "official-parity-stage1");

    /**
     * Official fixture directories under {@code shared/fixtures/} of which only some kinds are
     * implemented yet: directory → implemented stem prefixes. A directory that is also in {@link
     * #SHARED_SUBDIRS} is taken whole.
     */
    public static final Map<String, List<String>> SHARED_PARTIAL = Map.of();

    private Fixtures() {}

    /**
     * One fixture: {@code dir/stem.*}.
     *
     * @param dir the directory holding its files
     * @param stem the file-name stem, e.g. {@code rqvae-a}; its prefix names the kind
     * @param name the test name: the stem, or {@code stem [dir]} when another directory has a
     *     different fixture of the same stem
     */
    public record Fixture(Path dir, String stem, String name) {
        public Path file(String suffix) {
            return dir.resolve(stem + suffix);
        }
    }

    /** @return the repository's fixture directory */
    public static Path repoDir() {
        return Repo.root().resolve("rq-model/src/test/resources/fixtures/official-parity");
    }

    /** @return the project's shared/ directory beside the checkout, if there is one */
    public static Optional<Path> sharedDir() {
        String p = System.getProperty("rq.shared.dir");
        if (p != null && !p.isBlank() && Files.isDirectory(Path.of(p, "fixtures"))) {
            return Optional.of(Path.of(p).toAbsolutePath().normalize());
        }
        Path dir = Repo.root().toAbsolutePath();
        while (dir != null) {
            Path s = dir.resolveSibling("shared");
            if (Files.isDirectory(s.resolve("fixtures"))) {
                return Optional.of(s.normalize());
            }
            dir = dir.getParent();
        }
        return Optional.empty();
    }

    /** @return every fixture directory, in the order of the class comment, existing ones only */
    public static List<Path> parityDirs() {
        Set<Path> dirs = new LinkedHashSet<>();
        dirs.add(repoDir().toAbsolutePath().normalize());
        sharedDir().ifPresent(s -> {
            for (String sub : SHARED_SUBDIRS) {
                Path d = s.resolve("fixtures").resolve(sub);
                if (Files.isDirectory(d)) {
                    dirs.add(d.toAbsolutePath().normalize());
                }
            }
            partialDirs().keySet().forEach(dirs::add);
        });
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

    /** @return the existing {@link #SHARED_PARTIAL} directories not in {@link #SHARED_SUBDIRS} → kinds */
    static Map<Path, List<String>> partialDirs() {
        Map<Path, List<String>> out = new LinkedHashMap<>();
        sharedDir().ifPresent(s -> new TreeMap<>(SHARED_PARTIAL).forEach((sub, kinds) -> {
            Path d = s.resolve("fixtures").resolve(sub);
            if (!SHARED_SUBDIRS.contains(sub) && Files.isDirectory(d)) {
                out.put(d.toAbsolutePath().normalize(), kinds);
            }
        }));
        return out;
    }

    /**
     * @return the fixtures of {@link #SHARED_PARTIAL} directories whose kind is not implemented
     *     yet (reported as skipped, with that reason, by the parity test)
     */
    public static List<Fixture> pending() throws IOException {
        List<Fixture> out = new ArrayList<>();
        for (Map.Entry<Path, List<String>> e : partialDirs().entrySet()) {
            for (Path cfg : configs(e.getKey())) {
                String stem = cfg.getFileName().toString().replace(".config.json", "");
                if (e.getValue().stream().noneMatch(stem::startsWith)) {
                    out.add(new Fixture(e.getKey(), stem, stem + " [" + e.getKey() + "]"));
                }
            }
        }
        return out;
    }

    /** @return every fixture of {@link #parityDirs()}, byte-identical duplicates and {@link #pending()} removed */
    public static List<Fixture> all() throws IOException {
        Map<String, String> seen = new LinkedHashMap<>(); // content digest -> stem
        Map<String, Integer> stems = new LinkedHashMap<>();
        List<Fixture> out = new ArrayList<>();
        Map<Path, List<String>> partial = partialDirs();
        for (Path dir : parityDirs()) {
            for (Path cfg : configs(dir)) {
                String stem = cfg.getFileName().toString().replace(".config.json", "");
                if (partial.containsKey(dir) && partial.get(dir).stream().noneMatch(stem::startsWith)) {
                    continue; // pending()
                }
                String digest = digest(dir, stem);
                if (seen.containsKey(digest)) {
                    continue;
                }
                seen.put(digest, stem);
                int n = stems.merge(stem, 1, Integer::sum);
                out.add(new Fixture(dir, stem, n == 1 ? stem : stem + " [" + dir + "]"));
            }
        }
        return out;
    }

    /** @return every {@code *.config.json} in {@code dir}, sorted */
    public static List<Path> configs(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".config.json")).sorted().toList();
        }
    }

    /** SHA-256 over the names and bytes of every {@code stem.*} file of {@code dir}. */
    private static String digest(Path dir, String stem) throws IOException {
        TreeMap<String, Path> files = new TreeMap<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(p -> p.getFileName().toString().startsWith(stem + "."))
                    .forEach(p -> files.put(p.getFileName().toString(), p));
        }
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (Map.Entry<String, Path> e : files.entrySet()) {
                md.update(e.getKey().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                try (InputStream in = Files.newInputStream(e.getValue())) {
                    for (int r; (r = in.read(buf)) > 0; ) {
                        md.update(buf, 0, r);
                    }
                }
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }
}
