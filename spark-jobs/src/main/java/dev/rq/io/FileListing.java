package dev.rq.io;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.NoSuchElementException;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.RemoteIterator;

/**
 * Recursive listing of every regular file below a directory, streamed (never the whole tree in
 * one array), on any Hadoop file system.
 *
 * <p>Object stores and HDFS use {@link FileSystem#listFiles(Path, boolean)} (one flat, paged
 * listing on S3A). The local file system is walked with {@link FileSystem#listStatusIterator}
 * instead: its {@code listFiles} builds a {@code LocatedFileStatus} per file, whose constructor
 * loads the permissions, which without Hadoop's native library forks one {@code ls} process per
 * file (100,000 images took minutes to list; measured in the scale rehearsal, docs/data.md §8).
 */
public final class FileListing {

    private FileListing() {}

    /**
     * @param fs the file system of {@code dir}
     * @param dir a directory
     * @return every file below {@code dir} (any depth); order as the file system lists them
     */
    public static RemoteIterator<FileStatus> files(FileSystem fs, Path dir) throws IOException {
        boolean local = fs instanceof LocalFileSystem || fs instanceof RawLocalFileSystem;
        if (!local) {
            RemoteIterator<? extends FileStatus> it = fs.listFiles(dir, true);
            return new RemoteIterator<>() {
                @Override
                public boolean hasNext() throws IOException {
                    return it.hasNext();
                }

                @Override
                public FileStatus next() throws IOException {
                    return it.next();
                }
            };
        }
        return new LocalWalk(fs, dir);
    }

    /** Depth-first walk with one directory iterator open per level. */
    private static final class LocalWalk implements RemoteIterator<FileStatus> {
        private final FileSystem fs;
        private final Deque<RemoteIterator<FileStatus>> stack = new ArrayDeque<>();
        private FileStatus next;

        LocalWalk(FileSystem fs, Path dir) throws IOException {
            this.fs = fs;
            stack.push(fs.listStatusIterator(dir));
        }

        @Override
        public boolean hasNext() throws IOException {
            while (next == null && !stack.isEmpty()) {
                RemoteIterator<FileStatus> top = stack.peek();
                if (!top.hasNext()) {
                    stack.pop();
                    continue;
                }
                FileStatus st = top.next();
                if (st.isDirectory()) {
                    stack.push(fs.listStatusIterator(st.getPath()));
                } else if (st.isFile()) {
                    next = st;
                }
            }
            return next != null;
        }

        @Override
        public FileStatus next() throws IOException {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            FileStatus st = next;
            next = null;
            return st;
        }
    }
}
