package dev.rq.data.loader;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rq.data.TestDatasets;
import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.dataset.DatasetInfo;
import dev.rq.data.image.ImageTransform;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HexFormat;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The image loader streaming a dataset of many row groups through a cache 20 times smaller than
 * the dataset: each rank reads only its share (read amplification per epoch, summed over ranks),
 * the cache stays within its budget, and the global batches are the same for N = 1, 2, 4, also
 * after resuming mid-epoch.
 */
class StreamingLoaderTest {

    static final int PARTITIONS = 4;
    static final int WINDOW = 24;
    static final int BATCH = 16;

    @TempDir static Path tmp;
    static CanonicalDataset dataset;
    static CanonicalDataset small;
    static long datasetBytes;
    static long cacheBytes;

    @BeforeAll
    static void write() throws Exception {
        // 8,000 16x16 noise PNGs (~0.9 KB) in 2 shards of ~8 KB row groups: ~7 MB, ~800 blocks
        long t0 = System.nanoTime();
        Path split = TestDatasets.write(tmp, "train", 8000, 10, 16, 8 << 10, 2);
        System.out.printf("wrote the dataset in %.1f s%n", (System.nanoTime() - t0) / 1e9);
        // read without the local file system's .crc checksums (as HDFS or an object store reads): a
        // checksummed local read of a few KB costs up to 8 KB more, which would hide the loader's own
        // read amplification on these tiny row groups
        Configuration raw = new Configuration();
        raw.set("fs.file.impl", org.apache.hadoop.fs.RawLocalFileSystem.class.getName());
        raw.setBoolean("fs.file.impl.disable.cache", true);
        dataset = CanonicalDataset.open(split.toString(), raw);
        small = CanonicalDataset.open(TestDatasets.write(tmp, "small", 2400, 10, 16, 4 << 10, 3).toString(), raw);
        datasetBytes = dataset.info().shards().stream().mapToLong(DatasetInfo.Shard::bytes).sum();
        cacheBytes = datasetBytes / 20;
    }

    static BatchLoader loader(CanonicalDataset ds, int rank, int n, Cursor start, int endEpoch) {
        return BatchLoader.builder()
                .setDataset(ds)
                .setGlobalBatchSize(BATCH)
                .optRank(rank, n)
                .optSeed(99)
                .optPartitions(PARTITIONS)
                .optShuffleWindow(WINDOW)
                .optCacheBytes(cacheBytes)
                .optReadThreads(2)
                .optThreads(2)
                .optPrefetch(3)
                .setTransform(new ImageTransform(16, ImageTransform.Mode.TRAIN))
                .optStart(start)
                .optEndEpoch(endEpoch)
                .build();
    }

    @Test
    void eachRankReadsOnlyItsShareWithinTheCacheBudget() {
        BlockIndex blocks = new ImageBlocks(dataset).index();
        assertThat(blocks.numBlocks()).isGreaterThan(200);
        assertThat(datasetBytes).isGreaterThanOrEqualTo(20 * cacheBytes);
        LoaderConfig config = new LoaderConfig(BATCH, PARTITIONS, WINDOW, cacheBytes, 2, 2);
        int epochs = 2;
        for (int n : new int[] {1, 2, 4}) {
            config.check(blocks, n, "test dataset"); // the windows of one rank fit its cache
            long bytes = 0;
            BitSet[] seen = {new BitSet(), new BitSet()};
            for (int r = 0; r < n; r++) {
                try (BatchLoader l = loader(dataset, r, n, Cursor.start(), epochs)) {
                    while (l.hasNext()) {
                        Batch b = l.next();
                        for (long i : b.indices()) {
                            assertThat(seen[b.cursor().epoch()].get((int) i)).as("row %d read twice", i).isFalse();
                            seen[b.cursor().epoch()].set((int) i);
                        }
                    }
                    bytes += l.stream().bytesRead();
                    System.out.printf("N=%d rank %d: %d block reads of %d blocks, %d bytes, peak cache %d of %d%n", n, r,
                            l.stream().blockReads(), blocks.numBlocks(), l.stream().bytesRead(),
                            l.stream().peakCacheBytes(), cacheBytes);
                    assertThat(l.stream().peakCacheBytes()).as("N=%d rank %d peak cache", n, r)
                            .isLessThanOrEqualTo(cacheBytes * 11 / 10);
                }
            }
            double amplification = (double) bytes / (epochs * datasetBytes);
            System.out.printf("N=%d: %d bytes read over %d epochs of %d bytes: read amplification %.3f%n", n, bytes,
                    epochs, datasetBytes, amplification);
            assertThat(amplification).as("read amplification per epoch, N=%d", n).isLessThanOrEqualTo(1.1)
                    .isGreaterThan(0.9);
            long steps = dataset.numRows() / PARTITIONS / (BATCH / PARTITIONS);
            assertThat(seen[0].cardinality()).isEqualTo(steps * BATCH);
            assertThat(seen[1].cardinality()).isEqualTo(steps * BATCH);
        }
    }

    @Test
    void theSameGlobalBatchesForEveryWorkerCountAlsoAfterAResumeMidEpoch() throws Exception {
        int epochs = 2;
        List<String> reference = new ArrayList<>();
        Cursor middle;
        try (BatchLoader one = loader(small, 0, 1, Cursor.start(), epochs)) {
            middle = new Cursor(1, one.stepsPerEpoch() / 2 + 3);
            while (one.hasNext()) {
                reference.add(digest(List.of(one.next())));
            }
        }
        for (int n : new int[] {2, 4}) {
            List<String> got = new ArrayList<>();
            // an interrupted run: every rank stops at the cursor, new loaders resume from it
            for (Cursor[] leg : new Cursor[][] {{Cursor.start(), middle}, {middle, null}}) {
                List<BatchLoader> ranks = new ArrayList<>();
                for (int r = 0; r < n; r++) {
                    ranks.add(loader(small, r, n, leg[0], epochs));
                }
                while (ranks.get(0).hasNext() && !ranks.get(0).cursor().equals(leg[1])) {
                    List<Batch> slices = new ArrayList<>();
                    for (BatchLoader l : ranks) {
                        slices.add(l.next());
                    }
                    got.add(digest(slices));
                }
                ranks.forEach(BatchLoader::close);
            }
            assertThat(got).as("N=%d", n).hasSameSizeAs(reference);
            for (int i = 0; i < got.size(); i++) {
                assertThat(got.get(i)).as("N=%d batch %d", n, i).isEqualTo(reference.get(i));
            }
        }
    }

    /** Hash of the concatenated slices: cursor, indices, labels and every tensor value. */
    static String digest(List<Batch> slices) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        md.update(slices.get(0).cursor().toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        for (int field = 0; field < 3; field++) { // all indices, then all labels, then all images
            for (Batch b : slices) {
                java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(field < 2 ? 8 * b.size() : 4 * b.images().length);
                if (field == 0) {
                    for (long i : b.indices()) {
                        buf.putLong(i);
                    }
                } else if (field == 1) {
                    for (long l : b.labels()) {
                        buf.putLong(l);
                    }
                } else {
                    for (float f : b.images()) {
                        buf.putFloat(f);
                    }
                }
                md.update(buf.array());
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
