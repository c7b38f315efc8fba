package dev.rq.io;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.RemoteIterator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link FileListing} lists the same files as Hadoop's {@code listFiles}, without a process per file. */
class FileListingTest {

    @TempDir
    Path dir;

    @Test
    void walksEveryFileAtAnyDepthLikeListFiles() throws Exception {
        Files.createDirectories(dir.resolve("a/b/c"));
        Files.createDirectories(dir.resolve("empty/deeper"));
        Files.writeString(dir.resolve("top.txt"), "1");
        Files.writeString(dir.resolve("a/x.jpg"), "22");
        Files.writeString(dir.resolve("a/b/c/y.jpg"), "333");
        Files.writeString(dir.resolve("a/b/z.jpg"), "4444");
        Configuration conf = new Configuration();
        org.apache.hadoop.fs.Path root = new org.apache.hadoop.fs.Path(dir.toUri());
        FileSystem fs = root.getFileSystem(conf);
        // a checksummed write leaves a hidden .crc file that both listings must hide
        try (var out = fs.create(new org.apache.hadoop.fs.Path(root, "a/b/w.bin"))) {
            out.write(new byte[] {1, 2, 3, 4, 5});
        }
        List<String> walked = names(FileListing.files(fs, root), root);
        List<String> hadoop = new ArrayList<>();
        var it = fs.listFiles(root, true);
        while (it.hasNext()) {
            hadoop.add(relative(it.next(), root));
        }
        walked.sort(null);
        hadoop.sort(null);
        assertThat(walked).containsExactly("a/b/c/y.jpg:3", "a/b/w.bin:5", "a/b/z.jpg:4", "a/x.jpg:2", "top.txt:1");
        assertThat(walked).isEqualTo(hadoop);
    }

    private static List<String> names(RemoteIterator<FileStatus> it, org.apache.hadoop.fs.Path root) throws Exception {
        List<String> out = new ArrayList<>();
        while (it.hasNext()) {
            out.add(relative(it.next(), root));
        }
        return out;
    }

    private static String relative(FileStatus st, org.apache.hadoop.fs.Path root) {
        String r = root.toUri().getPath();
        r = r.endsWith("/") ? r : r + "/";
        return st.getPath().toUri().getPath().substring(r.length()) + ":" + st.getLen();
    }
}
