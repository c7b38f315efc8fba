package dev.rq.storage;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The pipeline on the S3 API: s3proxy in this JVM, Hadoop's S3A client, every URI {@code s3a://}.
 * The server counts the requests: the whole pipeline makes it copy no object (S3A renames by a copy
 * and a delete per object), so no step depends on a directory rename.
 */
class S3PipelineTest {

    @Test
    void ingestTrainTokenizeDecodeOnS3WithoutRenames() throws Exception {
        try (S3Server s3 = new S3Server("rq-pipeline")) {
            Pipeline p = new Pipeline("s3a://rq-pipeline/p", s3.hadoopSettings());
            p.prepareInputs(repo());
            long copies0 = s3.calls("copyBlob");
            long puts0 = s3.calls("putBlob") + s3.calls("completeMultipartUpload");
            p.run();
            // counted by the server: S3A's rename is a CopyObject per object (and a delete)
            assertThat(s3.calls("copyBlob") - copies0).as("server-side object copies (renames)").isZero();
            assertThat(s3.calls("putBlob") + s3.calls("completeMultipartUpload") - puts0)
                    .as("uploads the server saw").isGreaterThan(20);
        }
    }

    static Path repo() {
        return Path.of(System.getProperty("rq.repo.dir", "..")).toAbsolutePath().normalize();
    }
}
