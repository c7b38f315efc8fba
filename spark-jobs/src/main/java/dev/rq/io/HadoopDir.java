package dev.rq.io;

import dev.rq.model.checkpoint.CheckpointDir;
import dev.rq.model.safetensors.PositionedInput;
import java.io.FileNotFoundException;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * A {@link CheckpointDir} over any Hadoop {@link FileSystem} URI ({@code file:///…}, {@code
 * hdfs://…}, {@code s3a://…}, {@code gs://…}, {@code abfs://…}, or a plain path, resolved
 * against the default file system of the configuration).
 *
 * <p>Files are written under a hidden temporary name ({@code .<name>.tmp-<uuid>}) and renamed
 * into place when the stream is closed, so a reader never sees a half-written file under its final
 * name; an existing file of that name is replaced. On object stores, where rename is a copy and
 * not atomic ({@code s3}, {@code s3a}, {@code s3n}, {@code gs}), the object is written once under
 * its final name instead (it becomes visible only when the upload completes).
 *
 * <p>Hadoop {@link Configuration} is not serializable: build the directory where it is used (in a
 * task, from a broadcast or serializable wrapper of the configuration).
 */
public final class HadoopDir implements CheckpointDir {

    /** Schemes whose rename is not atomic (objects are written once under their final name). */
    public static final Set<String> OBJECT_STORE_SCHEMES = Set.of("s3", "s3a", "s3n", "gs", "oss", "cos");

    private final Path path;
    private final Configuration conf;
    private final FileSystem fs;

    /**
     * @param uri directory URI or path
     * @param conf Hadoop configuration (credentials and file system settings)
     */
    public HadoopDir(String uri, Configuration conf) throws IOException {
        this(new Path(Objects.requireNonNull(uri, "uri")), conf);
    }

    /**
     * @param path directory
     * @param conf Hadoop configuration
     */
    public HadoopDir(Path path, Configuration conf) throws IOException {
        this.conf = Objects.requireNonNull(conf, "conf");
        this.fs = path.getFileSystem(conf);
        this.path = fs.makeQualified(path);
    }

    /** A directory with a default {@link Configuration} (local file system unless configured). */
    public static HadoopDir of(String uri) throws IOException {
        return new HadoopDir(uri, new Configuration());
    }

    /** @return the qualified directory path */
    public Path path() {
        return path;
    }

    /** @return the file system of the directory */
    public FileSystem fileSystem() {
        return fs;
    }

    /** @return the configuration this directory was opened with */
    public Configuration conf() {
        return conf;
    }

    /** @return the sub-directory {@code name} (not created) */
    public HadoopDir child(String name) throws IOException {
        return new HadoopDir(new Path(path, checkName(name)), conf);
    }

    /** @return whether the directory itself exists */
    public boolean dirExists() throws IOException {
        return fs.exists(path);
    }

    /** Deletes the file {@code name}; @return whether something was deleted */
    public boolean delete(String name) throws IOException {
        return fs.delete(new Path(path, checkName(name)), false);
    }

    /** @return whether the scheme of this directory is an object store without atomic rename */
    public boolean isObjectStore() {
        return isObjectStore(fs);
    }

    @Override
    public OutputStream create(String name) throws IOException {
        fs.mkdirs(path);
        return createFile(fs, new Path(path, checkName(name)));
    }

    /** @return whether {@code fs} is an object store without atomic rename (by scheme) */
    public static boolean isObjectStore(FileSystem fs) {
        String scheme = fs.getUri().getScheme();
        return scheme != null && OBJECT_STORE_SCHEMES.contains(scheme.toLowerCase(Locale.ROOT));
    }

    /**
     * Opens {@code target} for writing so that readers see it complete or not at all: on an object
     * store the object is uploaded once under its final name (visible when the stream is closed);
     * elsewhere it is written under a hidden temporary sibling ({@code .<name>.tmp-<uuid>}) that
     * {@code close()} renames over {@code target} (a file rename: atomic on HDFS and local disks).
     * An existing {@code target} is replaced.
     */
    public static OutputStream createFile(FileSystem fs, Path target) throws IOException {
        if (isObjectStore(fs)) {
            return fs.create(target, true);
        }
        Path tmp = new Path(target.getParent(), "." + target.getName() + ".tmp-" + UUID.randomUUID());
        FSDataOutputStream out = fs.create(tmp, false);
        return new FilterOutputStream(out) {
            private boolean closed;

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                out.write(b, off, len);
            }

            @Override
            public void close() throws IOException {
                if (closed) {
                    return;
                }
                closed = true;
                boolean ok = false;
                try {
                    out.close();
                    publish(fs, tmp, target);
                    ok = true;
                } finally {
                    if (!ok) {
                        fs.delete(tmp, false);
                    }
                }
            }
        };
    }

    /** @return where to write {@code target} for {@link #publish}: itself on object stores, else a hidden sibling */
    public static Path writePath(FileSystem fs, Path target) {
        return isObjectStore(fs) ? target
                : new Path(target.getParent(), "." + target.getName() + ".tmp-" + UUID.randomUUID());
    }

    /** Makes a file written at {@link #writePath} visible as {@code target} (rename unless they are equal). */
    public static void publish(FileSystem fs, Path written, Path target) throws IOException {
        if (written.equals(target)) {
            return;
        }
        if (fs.exists(target) && !fs.delete(target, false)) {
            throw new IOException("cannot replace " + target);
        }
        if (!fs.rename(written, target)) {
            throw new IOException("cannot rename " + written + " to " + target);
        }
    }

    @Override
    public InputStream open(String name) throws IOException {
        Path p = new Path(path, checkName(name));
        try {
            return fs.open(p);
        } catch (FileNotFoundException e) {
            throw new FileNotFoundException(p + " does not exist");
        }
    }

    /** Positioned reads through {@code FSDataInputStream.readFully(position, …)}: ranged GETs on s3a. */
    @Override
    public PositionedInput openPositioned(String name) throws IOException {
        FSDataInputStream in = (FSDataInputStream) open(name);
        return new PositionedInput() {
            @Override
            public void readFully(long position, byte[] b, int off, int len) throws IOException {
                in.readFully(position, b, off, len);
            }

            @Override
            public void close() throws IOException {
                in.close();
            }
        };
    }

    @Override
    public boolean exists(String name) throws IOException {
        return fs.exists(new Path(path, checkName(name)));
    }

    @Override
    public String uri() {
        return path.toString();
    }

    @Override
    public String toString() {
        return "HadoopDir[" + path + "]";
    }

    private static String checkName(String name) {
        if (name == null || name.isEmpty() || name.contains("/") || name.equals(".") || name.equals("..")) {
            throw new IllegalArgumentException("not a plain file name: " + name);
        }
        return name;
    }
}
