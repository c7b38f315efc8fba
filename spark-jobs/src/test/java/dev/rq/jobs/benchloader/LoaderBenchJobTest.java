package dev.rq.jobs.benchloader;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.cli.BenchLoaderCommandAccess;
import dev.rq.data.TestDatasets;
import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.dataset.DatasetInfo;
import dev.rq.data.loader.LoaderConfig;
import dev.rq.jobs.SparkSessions;
import dev.rq.model.config.ConfigException;
import dev.rq.tables.TestTokenTables;
import java.nio.file.Path;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code rq bench-loader} on a real local[2] session: 2 barrier ranks, images and token rows. */
class LoaderBenchJobTest {

    static SparkSession spark;
    @TempDir static Path tmp;

    @BeforeAll
    static void start() {
        spark = SparkSessions.getOrCreate("test", 2);
        // read without the local file system's .crc checksums (as HDFS or an object store reads): a
        // checksummed local read costs up to 8 KB more, which would blur bytes_read on tiny row groups
        spark.sparkContext().hadoopConfiguration().set("fs.file.impl", RawLocalFileSystem.class.getName());
        spark.sparkContext().hadoopConfiguration().setBoolean("fs.file.impl.disable.cache", true);
    }

    @AfterAll
    static void stop() {
        spark.sparkContext().hadoopConfiguration().unset("fs.file.impl");
        spark.sparkContext().hadoopConfiguration().unset("fs.file.impl.disable.cache");
        spark.stop();
    }

    @Test
    void imagesTwoRanksOneEpoch() throws Exception {
        // ~60 row groups of 32 KB: the 3 partition boundaries cut at most 3 of them (read twice)
        Path split = TestDatasets.write(tmp.resolve("images"), "train", 2400, 10, 16, 32 << 10, 2);
        long datasetBytes = CanonicalDataset.open(split.toString(), new Configuration()).info().shards().stream()
                .mapToLong(DatasetInfo.Shard::bytes).sum();
        LoaderConfig lc = new LoaderConfig(32, 4, 64, 8L << 20, 2, 1);
        ObjectNode r = LoaderBenchJob.run(spark, new LoaderBenchJob.Options(split.toString(), false, null, true, 2, 1,
                lc, 16, 0));
        System.out.println(r.toPrettyString());
        long steps = 2400 / 4 / (32 / 4);
        assertThat(r.get("samples").asLong()).isEqualTo(steps * 32);
        assertThat(r.get("ranks")).hasSize(2);
        assertThat(r.get("ranks").get(0).get("samples").asLong()).isEqualTo(steps * 16);
        assertThat(r.get("dataset_bytes").asLong()).isEqualTo(datasetBytes);
        assertThat(r.get("read_amplification").asDouble()).isBetween(0.9, 1.1);
        assertThat(r.get("samples_per_s").asDouble()).isPositive();
        assertThat(r.get("peak_heap_mb").asDouble()).isPositive();
        assertThat(r.get("partitions").asInt()).isEqualTo(4);
    }

    @Test
    void tokenRowsWithLatents() throws Exception {
        Path table = tmp.resolve("tokens");
        TestTokenTables.write(table, "train", 4000, new int[] {4, 4, 2}, 16, new int[] {4, 4, 8}, "x", 64 << 10, 3, 5);
        LoaderConfig lc = new LoaderConfig(64, 8, 128, 4L << 20, 2, 1);
        ObjectNode r = LoaderBenchJob.run(spark, new LoaderBenchJob.Options(table.toString(), true, "train", true, 2,
                2, lc, 0, 0));
        long steps = 4000 / 8 / (64 / 8);
        assertThat(r.get("kind").asText()).isEqualTo("tokens");
        assertThat(r.get("samples").asLong()).isEqualTo(2 * steps * 64);
        assertThat(r.get("read_amplification").asDouble()).isBetween(0.45, 1.1); // epoch 2 may come from the cache
    }

    @Test
    void theCommandLineResolvesTheLoaderSettingsBeforeSparkStarts() throws Exception {
        LoaderBenchJob.Options o = BenchLoaderCommandAccess.options("--data", "x", "--workers", "4", "--batch-size",
                "64", "--set", "data.cache_mb=300", "--set", "data.partitions=16");
        assertThat(o.loader().cacheBytes()).isEqualTo(300L << 20);
        assertThat(o.loader().partitions()).isEqualTo(16);
        assertThat(o.loader().batch()).isEqualTo(64);
        assertThat(o.imageSize()).isEqualTo(256);
        assertThatThrownBy(() -> BenchLoaderCommandAccess.options("--data", "x", "--set", "train.lr=1"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("only data.* keys");
        assertThatThrownBy(() -> BenchLoaderCommandAccess.options("--data", "x", "--set", "data.partitions=3"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("data.partitions");
        LoaderBenchJob.Options fromConf = BenchLoaderCommandAccess.options("--data", "x", "--conf",
                "../conf/rqvae/tiny.yaml");
        assertThat(fromConf.loader().batch()).isEqualTo(8);
        assertThat(fromConf.imageSize()).isEqualTo(16);
    }
}
