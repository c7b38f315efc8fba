package dev.rq.data.loader;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rq.data.TestDatasets;
import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.dataset.DatasetInfo;
import dev.rq.data.dataset.DatasetLayout;
import dev.rq.data.image.ImageTransform;
import dev.rq.jobs.train.VaeStage;
import dev.rq.model.config.Configs;
import dev.rq.model.config.DataConfig;
import dev.rq.tables.TestTokenTables;
import dev.rq.tables.TokenSplit;
import dev.rq.tables.TokenTableSchema;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.util.HadoopOutputFile;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Types;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad training input fails with one clear error naming the file, before training where the
 * footers tell (truncated or non-Parquet shard, another schema, empty split), and while reading
 * otherwise (a corrupt row group).
 */
class BadInputTest {

    @TempDir Path tmp;
    final Configuration conf = new Configuration();

    Path dataset(String name) throws IOException {
        return TestDatasets.write(tmp.resolve(name), "train", 300, 3, 16, 16 << 10, 2);
    }

    static Path shard(Path split, int i) {
        return split.resolve(DatasetLayout.shardName("train", i, 2));
    }

    @Test
    void aTruncatedShardIsNamed() throws Exception {
        Path split = dataset("truncated");
        Path bad = shard(split, 1);
        byte[] all = Files.readAllBytes(bad);
        Files.write(bad, java.util.Arrays.copyOf(all, all.length / 2));
        assertThatThrownBy(() -> CanonicalDataset.open(split.toString(), conf))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(bad.getFileName().toString())
                .hasMessageContaining("(truncated or replaced)");
        // a sidecar that agrees with the truncated size: the footer is gone
        registerSize(split, 1, Files.size(bad));
        assertThatThrownBy(() -> CanonicalDataset.open(split.toString(), conf))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(bad.getFileName().toString())
                .hasMessageContaining("not a readable Parquet file");
    }

    @Test
    void aShardThatIsNotParquetIsNamed() throws Exception {
        Path split = dataset("text");
        Path bad = shard(split, 0);
        Files.writeString(bad, "this is not parquet, but long enough to have a footer position\n".repeat(10));
        registerSize(split, 0, Files.size(bad));
        assertThatThrownBy(() -> CanonicalDataset.open(split.toString(), conf))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(bad.getFileName().toString())
                .hasMessageContaining("not a readable Parquet file");
    }

    @Test
    void aShardWithAnotherSchemaIsNamed() throws Exception {
        Path split = dataset("schema");
        Path bad = shard(split, 1);
        long rows = CanonicalDataset.open(split.toString(), conf).info().shards().get(1).rows();
        MessageType other = Types.buildMessage().required(PrimitiveTypeName.INT64).named("x").named("other");
        Files.delete(bad);
        Files.deleteIfExists(bad.resolveSibling("." + bad.getFileName() + ".crc"));
        try (ParquetWriter<org.apache.parquet.example.data.Group> w = ExampleParquetWriter.builder(
                HadoopOutputFile.fromPath(new org.apache.hadoop.fs.Path(bad.toUri()), conf)).withType(other).build()) {
            SimpleGroupFactory f = new SimpleGroupFactory(other);
            for (long i = 0; i < rows; i++) {
                w.write(f.newGroup().append("x", i));
            }
        }
        registerSize(split, 1, Files.size(bad));
        assertThatThrownBy(() -> CanonicalDataset.open(split.toString(), conf))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(bad.getFileName().toString())
                .hasMessageContaining("not a dataset shard")
                .hasMessageContaining("image: struct<bytes: binary, path: string>, label: int64");
    }

    /** Rewrites the sidecar so that shard {@code i} has {@code bytes} (a foreign file registered as a shard). */
    void registerSize(Path split, int i, long bytes) throws IOException {
        org.apache.hadoop.fs.Path dir = new org.apache.hadoop.fs.Path(split.toUri());
        DatasetInfo info = DatasetInfo.read(dir, conf);
        List<DatasetInfo.Shard> shards = new java.util.ArrayList<>(info.shards());
        DatasetInfo.Shard s = shards.get(i);
        shards.set(i, new DatasetInfo.Shard(s.file(), s.rows(), bytes));
        new DatasetInfo(info.format(), info.formatVersion(), info.split(), info.classNames(), info.numRows(), shards,
                info.countsPerLabel(), info.ingest(), info.createdBy(), info.createdAt()).write(dir, conf);
    }

    @Test
    void aCorruptRowGroupFailsTheLoaderNamingTheFile() throws Exception {
        Path split = dataset("corrupt");
        Path bad = shard(split, 0);
        try (RandomAccessFile f = new RandomAccessFile(bad.toFile(), "rw")) {
            f.seek(8); // inside the first row group's first page header
            f.write(new byte[64]);
        }
        CanonicalDataset ds = CanonicalDataset.open(split.toString(), conf); // the footer is intact
        try (BatchLoader l = BatchLoader.builder().setDataset(ds).setGlobalBatchSize(300 / 2 / 2 * 2)
                .optShuffle(false).optThreads(1).setTransform(new ImageTransform(16, ImageTransform.Mode.EVAL)).build()) {
            assertThatThrownBy(l::next)
                    .hasMessageContaining(bad.getFileName().toString())
                    .hasMessageContaining("cannot read row group 0");
        }
    }

    @Test
    void anEmptySplitFailsBeforeTraining() throws Exception {
        Path split = tmp.resolve("empty/train");
        Files.createDirectories(split);
        new DatasetInfo(DatasetInfo.FORMAT, DatasetInfo.VERSION, "train", List.of("a"), 0, List.of(), Map.of(),
                new DatasetInfo.Ingest("x", "imagefolder", 0, 0, 0, Map.of(), null, null, null), Map.of(), "now")
                .write(new org.apache.hadoop.fs.Path(split.toUri()), conf);
        var config = Configs.loadRqVae(repo().resolve("conf/rqvae/tiny.yaml"), List.of());
        assertThatThrownBy(() -> new VaeStage(config, split.toString()).validate(conf, 1))
                .hasMessageContaining(split.toString())
                .hasMessageContaining("is empty");
    }

    @Test
    void workersThatDoNotDivideThePartitionsFailNamingBothNumbers() throws Exception {
        Path split = dataset("workers");
        var config = Configs.loadRqVae(repo().resolve("conf/rqvae/tiny.yaml"),
                List.of("train.batch_size=12", "data.partitions=4"));
        assertThatThrownBy(() -> new VaeStage(config, split.toString()).validate(conf, 3))
                .hasMessageContaining("data.partitions")
                .hasMessageContaining("--workers 3 does not divide the 4 canonical partitions");
        var tooSmallCache = Configs.loadRqVae(repo().resolve("conf/rqvae/tiny.yaml"),
                List.of("data.cache_mb=1", "data.shuffle_window=100000"));
        assertThat(tooSmallCache.data().cacheMb()).isEqualTo(1);
        // 300 images of ~1 KB fit in 1 MiB whatever the window: the working set is capped by the dataset
        new VaeStage(tooSmallCache, split.toString()).validate(conf, 1);
        assertThat(DataConfig.defaults().partitionsFor(6)).isEqualTo(2); // gcd(6, 8)
        assertThatThrownBy(() -> new DataConfig(null, null, null, null, null, 4, null, null, null).partitionsFor(6))
                .hasMessageContaining("data.partitions").hasMessageContaining("must divide the 6 samples");
    }

    @Test
    void tokenTablesAreCheckedTheSameWay() throws Exception {
        Path table = tmp.resolve("tokens");
        TestTokenTables.write(table, "train", 200, new int[] {2, 2, 2}, 16, new int[] {2, 2, 4}, "x", 4 << 10, 2, 1);
        TestTokenTables.write(table, "empty", 0, new int[] {2, 2, 2}, 16, new int[] {2, 2, 4}, "x", 4 << 10, 1, 1);
        assertThat(TokenSplit.open(table.toString(), "train", conf).numRows()).isEqualTo(200);
        assertThatThrownBy(() -> TokenSplit.open(table.toString(), "nope", conf))
                .hasMessageContaining("has splits").hasMessageContaining("'nope'");
        TokenSplit empty = TokenSplit.open(table.toString(), "empty", conf);
        assertThatThrownBy(() -> new LoaderConfig(8, 4, 16, 1 << 20, 1, 1).check(
                        new TokenBlocks(empty, true).index(), 1, empty.describe()))
                .hasMessageContaining("split 'empty'").hasMessageContaining("is empty");

        Path part = Files.list(table.resolve(TokenTableSchema.SPLIT + "=train"))
                .filter(f -> f.toString().endsWith(".parquet")).sorted().toList().get(1);
        byte[] all = Files.readAllBytes(part);
        Files.write(part, java.util.Arrays.copyOf(all, all.length - 100));
        assertThatThrownBy(() -> TokenSplit.open(table.toString(), "train", conf))
                .hasMessageContaining(part.getFileName().toString()).hasMessageContaining("not a readable Parquet");
        Files.write(part, all);

        // a part file of another table, without the latents column
        Path other = tmp.resolve("other");
        TestTokenTables.write(other, "train", 100, new int[] {2, 2, 2}, 16, null, "x", 4 << 10, 1, 2);
        Files.deleteIfExists(part.resolveSibling("." + part.getFileName() + ".crc")); // the local FS checksum
        Files.copy(Files.list(other.resolve(TokenTableSchema.SPLIT + "=train")).filter(f -> f.toString()
                .endsWith(".parquet")).findFirst().orElseThrow(), part, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        assertThatThrownBy(() -> TokenSplit.open(table.toString(), "train", conf))
                .hasMessageContaining(part.getFileName().toString())
                .hasMessageContaining("not a token table file").hasMessageContaining("latents: binary");
    }

    static Path repo() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isDirectory(dir.resolve("conf"))) {
            dir = dir.getParent();
        }
        return dir;
    }
}
