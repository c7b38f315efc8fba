package dev.rq.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.image.ImageTransform;
import dev.rq.data.loader.Batch;
import dev.rq.data.loader.BatchLoader;
import dev.rq.data.loader.Cursor;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The image loader on the embedded emoji dataset (data/emoji/train, 1,720 images, 9 classes, one
 * row group), with 4 canonical partitions. The order itself is tested in {@code EpochPlanTest},
 * streaming from many row groups in {@code StreamingLoaderTest}.
 */
class BatchLoaderTest {
    private static CanonicalDataset emoji;

    @BeforeAll
    static void open() throws Exception {
        Path split = Path.of(System.getProperty("user.dir")).resolve("../data/emoji/train")
                .normalize();
        assertThat(Files.isDirectory(split)).as("embedded dataset at %s", split).isTrue();
        emoji = CanonicalDataset.open(split.toString(), new Configuration());
    }

    private static BatchLoader loader(int batch, int rank, int n, int threads, Cursor start,
            ImageTransform.Mode mode) {
        return BatchLoader.builder()
                .setDataset(emoji)
                .optPartitions(4)
                .optShuffleWindow(256)
                .optCacheBytes(64L << 20)
                .setGlobalBatchSize(batch)
                .optRank(rank, n)
                .optSeed(1234)
                .setTransform(new ImageTransform(32, mode))
                .optThreads(threads)
                .optPrefetch(3)
                .optStart(start)
                .build();
    }

    @Test
    void embeddedDatasetIsComplete() {
        assertThat(emoji.numRows()).isEqualTo(1720);
        assertThat(emoji.classNames()).hasSize(9).contains("flags", "smileys_emotion");
        assertThat(emoji.info().ingest().read()).isEqualTo(emoji.info().ingest().accepted()
                + emoji.info().ingest().rejected());
    }

    @Test
    void workerSlicesConcatenateToTheSingleWorkerBatch() {
        int b = 24;
        Cursor[] cursors = {new Cursor(0, 0), new Cursor(0, 70), new Cursor(3, 5)};
        try (BatchLoader one = loader(b, 0, 1, 2, Cursor.start(), ImageTransform.Mode.TRAIN)) {
            for (Cursor c : cursors) {
                Batch whole = one.batchAt(c);
                for (int n : new int[] {2, 4}) {
                    long[] idx = new long[0];
                    long[] labels = new long[0];
                    float[] images = new float[0];
                    for (int r = 0; r < n; r++) {
                        try (BatchLoader w = loader(b, r, n, 1, c, ImageTransform.Mode.TRAIN)) {
                            Batch s = w.next(); // via the prefetching path
                            assertThat(s.cursor()).isEqualTo(c);
                            assertThat(s.size()).isEqualTo(b / n);
                            idx = concat(idx, s.indices());
                            labels = concat(labels, s.labels());
                            images = concat(images, s.images());
                        }
                    }
                    assertThat(idx).as("indices N=%d %s", n, c).containsExactly(whole.indices());
                    assertThat(labels).containsExactly(whole.labels());
                    assertThat(Arrays.equals(images, whole.images()))
                            .as("tensors N=%d %s", n, c).isTrue();
                }
            }
        }
    }

    @Test
    void resumeFromCursorAndThreadCountDoNotChangeBatches() {
        int b = 128; // 13 steps per epoch
        Batch expected;
        Cursor resumeAt;
        try (BatchLoader l = loader(b, 1, 2, 3, Cursor.start(), ImageTransform.Mode.TRAIN)) {
            assertThat(l.stepsPerEpoch()).isEqualTo(13);
            Batch last = null;
            for (int i = 0; i < 15; i++) { // crosses the epoch boundary
                last = l.next();
            }
            assertThat(last.cursor()).isEqualTo(new Cursor(1, 1));
            resumeAt = last.cursor();
            expected = last;
            assertThat(l.cursor()).isEqualTo(new Cursor(1, 2));
        }
        try (BatchLoader r = loader(b, 1, 2, 1, resumeAt, ImageTransform.Mode.TRAIN)) {
            Batch got = r.next();
            assertThat(got.indices()).containsExactly(expected.indices());
            assertThat(Arrays.equals(got.images(), expected.images())).isTrue();
            assertThat(got.next()).isEqualTo(new Cursor(1, 2));
        }
    }

    @Test
    void tensorsAreNchwInMinusOneToOne() {
        try (BatchLoader l = loader(16, 0, 1, 2, Cursor.start(), ImageTransform.Mode.EVAL)) {
            Batch batch = l.next();
            assertThat(batch.shape()).containsExactly(16, 3, 32, 32);
            assertThat(batch.images()).hasSize(16 * 3 * 32 * 32);
            float min = Float.MAX_VALUE;
            float max = -Float.MAX_VALUE;
            for (float v : batch.images()) {
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
            assertThat(min).isGreaterThanOrEqualTo(-1f);
            assertThat(max).isEqualTo(1f); // emoji on white backgrounds
            assertThat(Arrays.stream(batch.labels()).allMatch(x -> x >= 0 && x <= 8)).isTrue();
        }
    }

    @Test
    void transformsCropFlipAndNormalise() {
        // 40x20 image: left half red, right half blue; S = 10 -> resized to 20x10
        BufferedImage img = new BufferedImage(40, 20, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 20; y++) {
            for (int x = 0; x < 40; x++) {
                img.setRGB(x, y, x < 20 ? 0xFF0000 : 0x0000FF);
            }
        }
        ImageTransform eval = new ImageTransform(10, ImageTransform.Mode.EVAL);
        float[] t = new float[eval.tensorLength()];
        eval.apply(img, 0, t, 0);
        // centre crop x in [5, 15): columns 0..4 red, 5..9 blue
        assertThat(t[0]).isEqualTo(1f); // R of (0,0)
        assertThat(t[200]).isEqualTo(-1f); // B of (0,0)
        assertThat(t[9]).isEqualTo(-1f); // R of (9,0)
        assertThat(t[209]).isEqualTo(1f); // B of (9,0)

        ImageTransform train = new ImageTransform(10, ImageTransform.Mode.TRAIN);
        int flips = 0;
        for (long seed = 0; seed < 200; seed++) {
            float[] a = new float[train.tensorLength()];
            float[] b2 = new float[train.tensorLength()];
            train.apply(img, seed, a, 0);
            train.apply(img, seed, b2, 0);
            assertThat(Arrays.equals(a, b2)).isTrue(); // pure function of the seed
            int left = a[0] > 0 ? 0 : 1; // first column red (0) or blue (1)
            int right = a[9] > 0 ? 0 : 1;
            if (left == 1 && right == 0) {
                flips++; // blue on the left only happens when flipped
            }
        }
        assertThat(flips).isBetween(30, 110);

        // data.hflip: false keeps the crops and never flips
        ImageTransform noFlip = new ImageTransform(10, ImageTransform.Mode.TRAIN, false);
        for (long seed = 0; seed < 200; seed++) {
            float[] a = new float[noFlip.tensorLength()];
            noFlip.apply(img, seed, a, 0);
            assertThat(a[0] > 0 || a[9] < 0).as("never blue left of red").isTrue();
        }
    }

    private static long[] concat(long[] a, long[] b) {
        long[] o = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, o, a.length, b.length);
        return o;
    }

    private static float[] concat(float[] a, float[] b) {
        float[] o = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, o, a.length, b.length);
        return o;
    }
}
