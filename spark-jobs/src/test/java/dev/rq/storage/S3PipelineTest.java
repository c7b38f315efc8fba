package dev.rq.storage;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.StorageStatistics;
import org.junit.jupiter.api.Test;

/**
 * The pipeline on the S3 API: s3proxy in this JVM, Hadoop's S3A client, every URI {@code s3a://}.
 * S3A counts its operations: the whole pipeline issues no rename and no object copy (a rename on S3
 * is a copy and a delete), so no step depends on an atomic directory rename.
 */
class S3PipelineTest {

    @Test
    void ingestTrainTokenizeDecodeOnS3WithoutRenames() throws Exception {
        try (S3Server s3 = new S3Server("rq-pipeline")) {
            Pipeline p = new Pipeline("s3a://rq-pipeline/p", s3.hadoopSettings());
            p.prepareInputs(repo());
            FileSystem fs = p.fs();
            long renames0 = counter(fs, "op_rename");
            long copies0 = counter(fs, "object_copy_requests");
            long puts0 = counter(fs, "object_put_request");
            p.run();
            assertThat(counter(fs, "op_rename") - renames0).as("renames").isZero();
            assertThat(counter(fs, "object_copy_requests") - copies0).as("object copies").isZero();
            assertThat(counter(fs, "object_put_request") - puts0)
                    .as("the counters are those of the file system the pipeline wrote through").isPositive();
        }
    }

    static long counter(FileSystem fs, String name) {
        StorageStatistics st = fs.getStorageStatistics();
        Long v = st.getLong(name);
        if (v == null) {
            throw new IllegalStateException("S3A has no statistic " + name);
        }
        return v;
    }

    static Path repo() {
        return Path.of(System.getProperty("rq.repo.dir", "..")).toAbsolutePath().normalize();
    }
}
