package dev.rq.data.ingest;

import dev.rq.io.FileListing;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
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

    private final List<String> classNames;
    private final List<Entry> entries;
    private final long totalBytes;

    private ImageFolderListing(List<String> classNames, List<Entry> entries, long totalBytes) {
        this.classNames = classNames;
        this.entries = entries;
        this.totalBytes = totalBytes;
    }

    /** Lists {@code rootUri} on its Hadoop file system. */
    public static ImageFolderListing list(String rootUri, Configuration conf) throws IOException {
        Path root = new Path(rootUri);
        FileSystem fs = root.getFileSystem(conf);
        Path qualifiedRoot = fs.makeQualified(root);
        TreeSet<String> classes = new TreeSet<>();
        for (FileStatus st : fs.listStatus(qualifiedRoot)) {
            if (st.isDirectory()) {
                classes.add(st.getPath().getName());
            }
        }
        List<String> names = new ArrayList<>(classes);
        java.util.Map<String, Integer> index = new java.util.HashMap<>();
        for (int i = 0; i < names.size(); i++) {
            index.put(names.get(i), i);
        }
        List<Entry> entries = new ArrayList<>();
        long total = 0;
        String prefix = qualifiedRoot.toUri().getPath();
        if (!prefix.endsWith("/")) {
            prefix += "/";
        }
        RemoteIterator<FileStatus> it = FileListing.files(fs, qualifiedRoot);
        while (it.hasNext()) {
            FileStatus st = it.next();
            String full = st.getPath().toUri().getPath();
            String rel = full.startsWith(prefix) ? full.substring(prefix.length()) : full;
            int slash = rel.indexOf('/');
            Integer idx = slash < 0 ? null : index.get(rel.substring(0, slash));
            long label = idx == null ? -1 : idx;
            entries.add(new Entry(st.getPath().toString(), rel, label, st.getLen()));
            total += st.getLen();
        }
        entries.sort(java.util.Comparator.comparing(Entry::relPath));
        return new ImageFolderListing(List.copyOf(names), entries, total);
    }

    /** Sorted class names; label = index. */
    public List<String> classNames() {
        return classNames;
    }

    /** All files, sorted by relative path. */
    public List<Entry> entries() {
        return entries;
    }

    /** Sum of file sizes. */
    public long totalBytes() {
        return totalBytes;
    }
}
