package dev.rq.data.ingest;

import dev.rq.io.FileListing;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.TreeMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;

/**
 * Lists an ImageFolder tree ({@code root/<class>/<file>}, torchvision semantics): classes are the
 * immediate sub-directories of the root, sorted by name (String order), label = index in that
 * order. Files anywhere below a class directory belong to that class. Files directly in the root
 * are listed as outside any class (the ingest reports them as {@code outside_class_folder}).
 * Every regular file is listed, whatever its extension (the decoder decides what is an image).
 *
 * <p>In two parts, so that no JVM holds the whole tree: {@link #plan} lists the root only (the
 * driver: O(classes)) and yields one {@link Unit} per class directory plus one for the root's own
 * files; {@link #files} streams the files of one unit (a task: one file at a time).
 *
 * <pre>
 *   driver: plan(root) → class names + units [root files, class 0, class 1, …]
 *   tasks:  files(unit) → Entry(uri, relPath, label, size) …   (streamed, recursive below a class)
 * </pre>
 */
public final class ImageFolderListing {

    /**
     * One listed file.
     *
     * @param uri full file URI
     * @param relPath path relative to the root ({@code class/file.jpg})
     * @param label class id, or -1 for files outside class folders
     * @param size bytes
     */
    public record Entry(String uri, String relPath, long label, long size)
            implements java.io.Serializable {}

    /**
     * What one task lists.
     *
     * @param dirUri the class directory, or the root for its own files
     * @param rootPath the root's qualified URI path, ending in "/" (relative paths start after it)
     * @param label the class id; -1: the root's own files (not recursive)
     */
    public record Unit(String dirUri, String rootPath, long label) implements Serializable {}

    private final List<String> classNames;
    private final List<Unit> units;

    private ImageFolderListing(List<String> classNames, List<Unit> units) {
        this.classNames = classNames;
        this.units = units;
    }

    /** Lists the root of {@code rootUri} (not its classes' files) on its Hadoop file system. */
    public static ImageFolderListing plan(String rootUri, Configuration conf) throws IOException {
        Path root = new Path(rootUri);
        FileSystem fs = root.getFileSystem(conf);
        Path qualifiedRoot = fs.makeQualified(root);
        TreeMap<String, String> classes = new TreeMap<>(); // name → directory URI
        for (FileStatus st : fs.listStatus(qualifiedRoot)) {
            if (st.isDirectory()) {
                classes.put(st.getPath().getName(), st.getPath().toString());
            }
        }
        String prefix = qualifiedRoot.toUri().getPath();
        if (!prefix.endsWith("/")) {
            prefix += "/";
        }
        List<String> names = List.copyOf(classes.keySet());
        List<Unit> units = new ArrayList<>(names.size() + 1);
        units.add(new Unit(qualifiedRoot.toString(), prefix, -1));
        for (String dir : classes.values()) {
            units.add(new Unit(dir, prefix, units.size() - 1));
        }
        return new ImageFolderListing(names, List.copyOf(units));
    }

    /**
     * Streams the files of one unit: every file at any depth below a class directory, or the
     * regular files directly in the root. Order: as the file system lists them.
     */
    public static Iterator<Entry> files(Unit unit, Configuration conf) throws IOException {
        Path dir = new Path(unit.dirUri());
        RemoteIterator<FileStatus> it;
        try {
            FileSystem fs = dir.getFileSystem(conf);
            it = unit.label() < 0 ? fs.listStatusIterator(dir) : FileListing.files(fs, dir);
        } catch (IOException e) {
            throw new ListingException(unit, e);
        }
        return new Iterator<>() {
            private Entry next;

            @Override
            public boolean hasNext() {
                try {
                    while (next == null && it.hasNext()) {
                        FileStatus st = it.next();
                        if (st.isFile()) {
                            String full = st.getPath().toUri().getPath();
                            String rel = full.startsWith(unit.rootPath()) ? full.substring(unit.rootPath().length())
                                    : full;
                            next = new Entry(st.getPath().toString(), rel, unit.label(), st.getLen());
                        }
                    }
                } catch (IOException e) {
                    throw new ListingException(unit, e);
                }
                return next != null;
            }

            @Override
            public Entry next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                Entry e = next;
                next = null;
                return e;
            }
        };
    }

    /**
     * A folder of the tree could not be listed (in a task). Its message is one line naming the
     * folder ({@code cannot list class folder <uri>: <cause>}); the cause is the file system's.
     */
    public static final class ListingException extends UncheckedIOException {
        private static final long serialVersionUID = 1L;

        ListingException(Unit unit, IOException cause) {
            super("cannot list " + (unit.label() < 0 ? "the input folder " : "class folder ") + unit.dirUri()
                    + ": " + cause, cause);
        }

        /** @return the listing failure in {@code t}'s cause chain (a Spark job's task failure), or null */
        public static ListingException in(Throwable t) {
            Set<Throwable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
            for (Throwable c = t; c != null && seen.add(c); c = c.getCause()) {
                if (c instanceof ListingException l) {
                    return l;
                }
            }
            return null;
        }
    }

    /** Sorted class names; label = index. */
    public List<String> classNames() {
        return classNames;
    }

    /** The root's own files first, then one unit per class in label order. */
    public List<Unit> units() {
        return units;
    }
}
