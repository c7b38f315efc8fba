package dev.rq.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayDeque;
import java.util.Collection;
import java.util.Deque;
import java.util.HashSet;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One job output committed without renaming a directory, so the same protocol is correct on
 * object stores (S3A, GCS, ABFS: rename is a copy, never atomic), on HDFS and on local disks
 * (shape: Iceberg's commit, where data files are written once and a small metadata file makes them
 * visible).
 *
 * <pre>
 * try (StagedOutput out = StagedOutput.begin(root, conf, spec)) {  // checks the root may be replaced
 *     ... tasks write files straight under out.root(), named by out.fileName(base, ext)
 *     out.commit(writtenRelativePaths, markerBytes);                // marker last, then older files removed
 * }                                                                 // not committed: abort()
 * </pre>
 *
 * <ol>
 *   <li>{@link #begin} refuses a root that exists and is neither empty, nor a complete output
 *       ({@code spec.marker()} present), nor an unfinished one ({@link #OWNER_FILE} of the same
 *       kind), then writes {@link #OWNER_FILE}. With {@link Spec#reusesNames()} the old marker is
 *       deleted first: the old output becomes incomplete (readers refuse it) before any of its
 *       files is overwritten.
 *   <li>Every file is written once under its final name ({@link HadoopDir#createFile}: on an object
 *       store one upload that becomes visible only when complete; elsewhere a hidden temporary name
 *       and a file rename, which HDFS and local disks do atomically). When an earlier complete
 *       output is being replaced, {@link #fileName} puts the commit id into the names, so the old
 *       output's files stay untouched and readable under the old marker until the new one lands.
 *   <li>{@link #commit} writes the marker (a manifest that lists the files) last, in one piece.
 *       Readers require the marker and read only the files it lists. Then every file under the
 *       root that this commit did not write is deleted (the old output, leftovers of failed
 *       attempts); a crash during that clean-up leaves unlisted files, never a wrong output, and
 *       the next commit removes them.
 *   <li>{@link #abort} deletes this commit's files; a replaced output is left as it was (unless
 *       {@link Spec#reusesNames()} already invalidated it).
 * </ol>
 *
 * One writer per output at a time: two concurrent jobs on the same root race (the last marker
 * wins and its clean-up may delete the other's files).
 */
public final class StagedOutput implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(StagedOutput.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Written at {@link #begin}: marks a root as an output of this kind, complete or not. */
    public static final String OWNER_FILE = "_rq_output.json";

    /**
     * What an output is.
     *
     * @param marker path of the commit marker relative to the root (e.g. {@code _tokens_manifest.json})
     * @param label how errors name the output (e.g. {@code --output})
     * @param kind what the output is, for messages and {@link #OWNER_FILE} (e.g. {@code a token table})
     * @param reusesNames whether a rerun writes files under the names of the previous output (then the
     *     previous output is invalidated at {@link #begin}, before anything is overwritten)
     * @param legacyMarker a file that marks an output written before {@link #OWNER_FILE} existed as
     *     one of this kind (so it may be replaced), or null
     */
    public record Spec(String marker, String label, String kind, boolean reusesNames, String legacyMarker) {
        public Spec {
            Objects.requireNonNull(marker, "marker");
            Objects.requireNonNull(label, "label");
            Objects.requireNonNull(kind, "kind");
        }

        /** A spec without a legacy marker. */
        public Spec(String marker, String label, String kind, boolean reusesNames) {
            this(marker, label, kind, reusesNames, null);
        }
    }

    private final FileSystem fs;
    private final Path root;
    private final Spec spec;
    private final String id;
    private final boolean replacing;
    private final boolean existed;
    private boolean done;

    private StagedOutput(FileSystem fs, Path root, Spec spec, String id, boolean replacing, boolean existed) {
        this.fs = fs;
        this.root = root;
        this.spec = spec;
        this.id = id;
        this.replacing = replacing;
        this.existed = existed;
    }

    /**
     * Starts writing the output at {@code uri}.
     *
     * @throws IllegalArgumentException when the root is a file, or a non-empty folder that is not an
     *     output of this kind (nothing is touched then)
     */
    public static StagedOutput begin(String uri, Configuration conf, Spec spec) throws IOException {
        Path p = new Path(uri);
        FileSystem fs = p.getFileSystem(conf);
        Path root = fs.makeQualified(p);
        if (root.getParent() == null) {
            throw new IllegalArgumentException(spec.label() + " must not be a file system root: " + root);
        }
        boolean existed = fs.exists(root);
        boolean complete = false;
        if (existed) {
            if (!fs.getFileStatus(root).isDirectory()) {
                throw new IllegalArgumentException(spec.label() + ": " + root + " exists and is a file: choose another "
                        + spec.label() + " or remove it");
            }
            complete = fs.exists(new Path(root, spec.marker()));
            if (!complete && fs.listStatus(root).length > 0 && !ownedBy(fs, root, spec.kind())
                    && !(spec.legacyMarker() != null && fs.exists(new Path(root, spec.legacyMarker())))) {
                throw new IllegalArgumentException(spec.label() + ": " + root + " exists, is not empty and is not "
                        + spec.kind() + " (no " + spec.marker() + "): refusing to replace it; choose another "
                        + spec.label() + " or empty it");
            }
        }
        String id = UUID.randomUUID().toString().replace("-", "").substring(0, 12);
        if (complete && spec.reusesNames()) {
            fs.delete(new Path(root, spec.marker()), false); // the old output is incomplete from here on
            complete = false;
        }
        ObjectNode owner = JSON.createObjectNode();
        owner.put("kind", spec.kind());
        owner.put("commit", id);
        owner.put("started", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
        try (OutputStream out = HadoopDir.createFile(fs, new Path(root, OWNER_FILE))) {
            out.write(JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(owner));
        }
        return new StagedOutput(fs, root, spec, id, complete, existed);
    }

    /**
     * Fails unless the output at {@code uri} is complete (its marker exists).
     *
     * @throws FileNotFoundException naming the missing marker
     */
    public static void requireComplete(String uri, Configuration conf, String marker, String kind)
            throws IOException {
        Path p = new Path(uri);
        if (!p.getFileSystem(conf).exists(new Path(p, marker))) {
            throw new FileNotFoundException(uri + " has no " + marker + ": not a complete " + kind
                    + " (job not finished, failed, or not " + kind + ")");
        }
    }

    private static boolean ownedBy(FileSystem fs, Path root, String kind) throws IOException {
        Path owner = new Path(root, OWNER_FILE);
        if (!fs.exists(owner)) {
            return false;
        }
        try (var in = fs.open(owner)) {
            return kind.equals(JSON.readTree(in).path("kind").asText());
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** @return the qualified output root */
    public Path root() {
        return root;
    }

    /** @return the root as a string URI */
    public String uri() {
        return root.toString();
    }

    /** @return the output's file system */
    public FileSystem fs() {
        return fs;
    }

    /** @return this commit's id (12 hex digits) */
    public String id() {
        return id;
    }

    /** @return whether a complete earlier output is being replaced (it stays readable until commit) */
    public boolean replacing() {
        return replacing;
    }

    /**
     * @return {@code base + ext} for a fresh output, {@code base + "-" + id + ext} when replacing a
     *     complete one (so its files are never overwritten)
     */
    public String fileName(String base, String ext) {
        return base + nameSuffix() + ext;
    }

    /** @return what {@link #fileName} inserts: {@code ""}, or {@code "-" + id} when replacing */
    public String nameSuffix() {
        return replacing ? "-" + id : "";
    }

    /** @return {@code relative} resolved against the root */
    public Path path(String relative) {
        return new Path(root, relative);
    }

    /**
     * Commits: writes {@code marker} to {@link Spec#marker()} (in one piece, last), then deletes
     * every file under the root that is not in {@code written}, the marker or {@link #OWNER_FILE}.
     *
     * @param written every file this commit wrote, relative to the root ({@code split=train/part-00000.parquet})
     * @param marker the marker's bytes (a manifest listing {@code written})
     */
    public void commit(Collection<String> written, byte[] marker) throws IOException {
        check();
        Set<String> present = new HashSet<>(); // one recursive listing, not a request per file
        String prefix = root.toUri().getPath() + "/";
        RemoteIterator<FileStatus> it = FileListing.files(fs, root);
        while (it.hasNext()) {
            String p = it.next().getPath().toUri().getPath();
            if (p.startsWith(prefix)) {
                present.add(p.substring(prefix.length()));
            }
        }
        for (String w : written) {
            if (!present.contains(w)) {
                throw new IOException("cannot commit " + root + ": " + w + " was not written");
            }
        }
        try (OutputStream out = HadoopDir.createFile(fs, path(spec.marker()))) {
            out.write(marker);
        }
        done = true;
        Set<String> keep = new HashSet<>(written);
        keep.add(spec.marker());
        keep.add(OWNER_FILE);
        try {
            int removed = removeAllBut(keep);
            if (removed > 0) {
                LOG.info("{}: removed {} files of earlier outputs or failed attempts", root, removed);
            }
        } catch (IOException | RuntimeException e) {
            LOG.warn("{} is committed, but removing older files failed ({}); the next commit removes them", root,
                    e.toString());
        }
    }

    /** Deletes this commit's files (best effort; never throws). An earlier complete output stays. */
    public void abort() {
        if (done) {
            return;
        }
        done = true;
        try {
            if (!existed || spec.reusesNames()) {
                // nothing readable was here, or the old output was invalidated at begin: clear the root
                for (FileStatus st : fs.listStatus(root)) {
                    if (!st.getPath().getName().equals(OWNER_FILE)) {
                        fs.delete(st.getPath(), true);
                    }
                }
                if (!existed) {
                    fs.delete(root, true);
                }
                return;
            }
            // keep the old output: delete only names that carry this commit's id
            Deque<Path> dirs = new ArrayDeque<>(Set.of(root));
            while (!dirs.isEmpty()) {
                for (FileStatus st : fs.listStatus(dirs.pop())) {
                    if (st.getPath().getName().contains(id)) {
                        fs.delete(st.getPath(), true);
                    } else if (st.isDirectory()) {
                        dirs.push(st.getPath());
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.warn("could not remove the files of the failed write to {}: {}", root, e.toString());
        }
    }

    /** Aborts unless committed. */
    @Override
    public void close() {
        abort();
    }

    private void check() {
        if (done) {
            throw new IllegalStateException("output " + root + " was already committed or aborted");
        }
    }

    /** Deletes everything under the root except {@code keep} (relative paths); @return entries deleted */
    private int removeAllBut(Set<String> keep) throws IOException {
        Set<String> keepDirs = new HashSet<>();
        for (String k : keep) {
            for (int i = k.indexOf('/'); i > 0; i = k.indexOf('/', i + 1)) {
                keepDirs.add(k.substring(0, i));
            }
        }
        int removed = 0;
        Deque<String> dirs = new ArrayDeque<>(Set.of(""));
        while (!dirs.isEmpty()) {
            String rel = dirs.pop();
            for (FileStatus st : fs.listStatus(rel.isEmpty() ? root : path(rel))) {
                String child = rel.isEmpty() ? st.getPath().getName() : rel + "/" + st.getPath().getName();
                if (st.isDirectory() && keepDirs.contains(child)) {
                    dirs.push(child);
                } else if (!(st.isFile() && keep.contains(child))) {
                    fs.delete(st.getPath(), true);
                    removed++;
                }
            }
        }
        return removed;
    }
}
