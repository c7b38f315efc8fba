package dev.rq.storage;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.api.Test;

/** S3A against s3proxy with the settings of {@link S3Server}: write, read, list, rename (counted as the server-side copy it is), delete a folder of several objects. */
class S3SmokeTest {
    @Test
    void s3aTalksToS3Proxy() throws Exception {
        try (S3Server s3 = new S3Server("smoke")) {
            Path p = new Path(s3.uri("a/b.txt"));
            FileSystem fs = p.getFileSystem(s3.conf());
            try (OutputStream o = fs.create(p, true)) {
                o.write("hello".getBytes(StandardCharsets.UTF_8));
            }
            try (InputStream in = fs.open(p)) {
                assertThat(new String(in.readAllBytes(), StandardCharsets.UTF_8)).isEqualTo("hello");
            }
            try (OutputStream o = fs.create(new Path(s3.uri("a/c.txt")), true)) {
                o.write(1);
            }
            assertThat(fs.listStatus(new Path(s3.uri("a")))).hasSize(2);
            long copies = s3.calls("copyBlob");
            assertThat(fs.rename(new Path(s3.uri("a/c.txt")), new Path(s3.uri("a/d.txt")))).isTrue();
            assertThat(s3.calls("copyBlob") - copies).as("a rename is a server-side copy, and is counted").isEqualTo(1);
            assertThat(fs.delete(new Path(s3.uri("a")), true)).isTrue();
            assertThat(fs.exists(p)).isFalse();
            fs.close();
        }
    }
}
