package dev.rq.jobs.decode;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.executor.ExecutorModels;
import dev.rq.jobs.tokenize.TokenFixtures;
import dev.rq.jobs.tokenize.TokenizeJob;

import dev.rq.model.checkpoint.LocalDir;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.metrics.Psnr;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.report.ImageGrid;
import dev.rq.tables.TokenRow;
import dev.rq.tables.Variant;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Decoding a token table gives exactly the model's reconstruction of the source images. */
class DecodeJobTest {
    private static SparkSession spark;
    private static Path ckpt;
    private static String table;

    @TempDir static Path shared;
    @TempDir Path tmp;

    @BeforeAll
    static void setUp() throws Exception {
        spark = TokenFixtures.spark("DecodeJobTest");
        ckpt = TokenFixtures.tinyCheckpoint(shared.resolve("ckpt"), 21);
        table = shared.resolve("tokens").toString();
        TokenizeJob.run(spark, new TokenizeJob.Options(ckpt.toString(), TokenFixtures.emojiValidation(), table,
                List.of(Variant.CENTER, Variant.HFLIP), 8, List.of(), false, 2, 64));
    }

    @AfterAll
    static void tearDown() {
        spark.stop();
        ExecutorModels.clear();
    }

    @Test
    void roundTripEqualsTheModelsReconstruction() throws Exception {
        Path out = tmp.resolve("decoded");
        DecodeJob.Result r = DecodeJob.run(spark, new DecodeJob.Options(ckpt.toString(), table, out.toString(), 12,
                null, null, false, 2));
        assertThat(r.rows()).hasSize(12);
        assertThat(r.resolution()).isEqualTo(16);
        int n = 3 * 16 * 16;

        Map<String, float[]> inputs = new HashMap<>();
        for (TokenFixtures.View v : TokenFixtures.views(TokenFixtures.emojiValidation(), 16,
                List.of(Variant.CENTER, Variant.HFLIP))) {
            inputs.put(v.id() + "/" + v.variant(), v.x());
        }
        // the same 12 images encoded and reconstructed in-process, in one padded batch of 16
        float[] x = new float[DecodeJob.BATCH * n];
        for (int i = 0; i < DecodeJob.BATCH; i++) {
            TokenRow row = r.rows().get(Math.min(i, 11));
            System.arraycopy(inputs.get(row.getId() + "/" + row.getVariant()), 0, x, i * n, n);
        }
        try (NDManager m = Engines.newManager()) {
            VaeCheckpoint.Loaded l = VaeCheckpoint.load(new LocalDir(ckpt), m);
            NDArray in = m.create(x, new Shape(DecodeJob.BATCH, 3, 16, 16));
            float[] viaCodes = l.vae().decodeCodes(l.vae().codes(in)).toFloatArray();
            float[] recon = l.vae().forward(in, false, Collective.local(), null).recon().toFloatArray();
            double err = 0;
            double norm = 0;
            for (int i = 0; i < 12 * n; i++) {
                // bitwise equal to the model's eval reconstruction from its own codes
                assertThat(r.images()[i]).as("sample %d", i).isEqualTo(viaCodes[i]);
                err += (r.images()[i] - recon[i]) * (double) (r.images()[i] - recon[i]);
                norm += recon[i] * (double) recon[i];
            }
            // forward() decodes the straight-through latent x + (z_q - x): z_q up to float rounding (~1e-6 here)
            assertThat(Math.sqrt(err / norm)).as("relative L2 error vs forward().recon()").isLessThanOrEqualTo(1e-5);
        }

        // PNGs, grid and index
        assertThat(r.files()).hasSize(12);
        BufferedImage png = ImageIO.read(out.resolve(r.files().get(3)).toFile());
        assertThat(png.getWidth()).isEqualTo(16);
        for (int y = 0; y < 16; y++) {
            for (int xx = 0; xx < 16; xx++) {
                int o = 3 * n + y * 16 + xx;
                int rgb = png.getRGB(xx, y) & 0xFFFFFF;
                assertThat(rgb).isEqualTo(ImageGrid.toByte(r.images()[o]) << 16
                        | ImageGrid.toByte(r.images()[o + 256]) << 8 | ImageGrid.toByte(r.images()[o + 512]));
            }
        }
        assertThat(ImageIO.read(out.resolve("grid.png").toFile()).getWidth()).isEqualTo(4 * 16 + 5 * 2);
        assertThat(Files.readString(out.resolve("index.html"))).contains("<img src=\"grid.png\"");
    }

    /**
     * With a reference, every row (both variants, over several tasks) is scored in its decode task,
     * exactly as the driver would score it from all the images, while only the first {@code keep}
     * rows' images come back.
     */
    @Test
    void aReferenceScoresEveryRowInItsTaskWhileOnlyTheFirstKeepImagesComeBack() throws Exception {
        DecodeJob.Result all = DecodeJob.run(spark, new DecodeJob.Options(ckpt.toString(), table,
                tmp.resolve("all").toString(), 0, null, null, false, 1, List.of(), Precision.FP32, 1000));
        DecodeJob.Result r = DecodeJob.run(spark, new DecodeJob.Options(ckpt.toString(), table,
                tmp.resolve("scored").toString(), 0, null, null, false, 1, List.of(), Precision.FP32, 3),
                new SourceImages(TokenFixtures.emojiValidation(), new Configuration()));
        int n = 3 * 16 * 16;
        assertThat(all.count()).isEqualTo(2 * 186);
        assertThat(all.rows()).hasSize(2 * 186);
        assertThat(all.scores()).isEmpty();
        assertThat(r.count()).isEqualTo(2 * 186);
        assertThat(r.rows()).hasSize(3);
        assertThat(r.images()).hasSize(3 * n);
        assertThat(r.files()).hasSize(3);
        assertThat(r.scores()).hasSize(2 * 186);

        Map<String, float[]> inputs = new HashMap<>();
        for (TokenFixtures.View v : TokenFixtures.views(TokenFixtures.emojiValidation(), 16,
                List.of(Variant.CENTER, Variant.HFLIP))) {
            inputs.put(v.id() + "/" + v.variant(), v.x());
        }
        for (int i = 0; i < all.rows().size(); i++) {
            TokenRow row = all.rows().get(i);
            DecodeJob.Score s = r.scores().get(i);
            assertThat(s.id()).isEqualTo(row.getId());
            assertThat(s.label()).isEqualTo(row.getLabel());
            // bitwise the driver-side PSNR of the returned image against the evaluation transform of the source
            assertThat(s.psnr()).as("row %d", i)
                    .isEqualTo(Psnr.of(inputs.get(row.getId() + "/" + row.getVariant()), 0, all.images(), i * n, n));
        }
        assertThat(java.util.Arrays.copyOf(all.images(), 3 * n)).isEqualTo(r.images());
    }

    @Test
    void filtersAndRefusesAForeignCodebook() throws Exception {
        DecodeJob.Result r = DecodeJob.run(spark, new DecodeJob.Options(ckpt.toString(), table,
                tmp.resolve("d").toString(), 5, "validation", 1, false, 0));
        assertThat(r.rows()).hasSize(5).allMatch(t -> t.getVariant() == 1);
        Path other = TokenFixtures.tinyCheckpoint(tmp.resolve("other"), 99);
        assertThatThrownBy(() -> DecodeJob.run(spark, new DecodeJob.Options(other.toString(), table,
                tmp.resolve("e").toString(), 5, null, null, false, 0)))
                .hasMessageContaining("codebook").hasMessageContaining("--force");
        assertThat(DecodeJob.run(spark, new DecodeJob.Options(other.toString(), table, tmp.resolve("f").toString(), 2,
                null, null, true, 0)).rows()).hasSize(2);
    }

    @Test
    void partialDepthsDecodeTheFirstKLevelsOfEachCodeStack() throws Exception {
        Path out = tmp.resolve("depths");
        DecodeJob.Result all = DecodeJob.run(spark, new DecodeJob.Options(ckpt.toString(), table,
                tmp.resolve("all").toString(), 3, "validation", 0, false, 2));
        DecodeJob.Result r = DecodeJob.run(spark, new DecodeJob.Options(ckpt.toString(), table, out.toString(), 3,
                "validation", 0, false, 2, List.of(1, 4)));
        assertThat(r.images()).isEqualTo(all.images()); // the last entry, 4 = D: every level
        assertThat(r.files()).allMatch(f -> f.endsWith("_d4.png"));
        try (NDManager m = Engines.newManager()) {
            VaeCheckpoint.Loaded l = VaeCheckpoint.load(new LocalDir(ckpt), m);
            long[] c = new long[DecodeJob.BATCH * 8 * 8 * 4];
            for (int i = 0; i < DecodeJob.BATCH; i++) {
                int[] one = r.rows().get(Math.min(i, 2)).getCodes();
                for (int j = 0; j < one.length; j++) {
                    c[i * one.length + j] = one[j];
                }
            }
            float[] coarse = l.vae().decodePartialCodes(m.create(c, new Shape(DecodeJob.BATCH, 8, 8, 4)), 0, true)
                    .toFloatArray();
            BufferedImage png = ImageIO.read(out.resolve(r.files().get(1).replace("_d4.png", "_d1.png")).toFile());
            int n = 3 * 16 * 16;
            for (int y = 0; y < 16; y++) {
                for (int x = 0; x < 16; x++) {
                    int o = n + y * 16 + x;
                    assertThat(png.getRGB(x, y) & 0xFFFFFF).isEqualTo(ImageGrid.toByte(coarse[o]) << 16
                            | ImageGrid.toByte(coarse[o + 256]) << 8 | ImageGrid.toByte(coarse[o + 512]));
                }
            }
        }
        BufferedImage grid = ImageIO.read(out.resolve("grid.png").toFile()); // 3 rows (images) x 2 columns (depths)
        assertThat(grid.getWidth()).isEqualTo(2 * 16 + 3 * 2);
        assertThat(grid.getHeight()).isEqualTo(3 * 16 + 4 * 2);
        assertThatThrownBy(() -> DecodeJob.run(spark, new DecodeJob.Options(ckpt.toString(), table,
                tmp.resolve("bad").toString(), 1, null, null, false, 0, List.of(5))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--depths: 5");
    }

    /**
     * The whole table ({@code limit} 0) decoded by several tasks on local[2,3] and by one on
     * local[1]: the same files, byte for byte, numbered in the table's order.
     */
    @Test
    void severalTasksWriteTheSameFilesAsOneInTheTablesOrder() throws Exception {
        Path two = tmp.resolve("two");
        DecodeJob.Result a = DecodeJob.run(spark, new DecodeJob.Options(ckpt.toString(), table, two.toString(), 0,
                null, null, false, 1));
        List<TokenRow> ordered = dev.rq.tables.TokenTable.read(spark, table).typed()
                .orderBy("split", "sourceShard", "sourceRow", "variant").collectAsList();
        assertThat(ordered.size()).isGreaterThan(2 * DecodeJob.BATCH); // more than one task's batches
        assertThat(a.count()).isEqualTo(ordered.size());
        assertThat(a.rows()).hasSize(Math.min(ordered.size(), DecodeJob.GRID));
        spark.stop(); // the same decode in one task slot
        spark = org.apache.spark.sql.SparkSession.builder().master("local[1]").appName("DecodeJobTest1")
                .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .config("spark.kryo.registrationRequired", "true")
                .config("spark.kryo.registrator", "dev.rq.jobs.RqKryoRegistrator")
                .config("spark.sql.shuffle.partitions", "1").getOrCreate();
        Path one = tmp.resolve("one");
        DecodeJob.Result b = DecodeJob.run(spark, new DecodeJob.Options(ckpt.toString(), table, one.toString(), 0,
                null, null, false, 1));
        assertThat(b.count()).isEqualTo(a.count());
        assertThat(b.images()).isEqualTo(a.images());
        List<String> files;
        try (var w = Files.walk(two)) {
            files = w.filter(Files::isRegularFile).map(f -> two.relativize(f).toString())
                    .filter(f -> f.endsWith(".png")).sorted().toList();
        }
        assertThat(files).hasSize(ordered.size() + 1); // + grid.png
        for (int i = 0; i < ordered.size(); i++) {
            TokenRow r = ordered.get(i);
            String f = DecodeJob.safe(r.getSplit()) + "/" + DecodeJob.fileName(i, r, "");
            assertThat(files).contains(f);
        }
        for (String f : files) {
            assertThat(Files.readAllBytes(one.resolve(f))).as(f).isEqualTo(Files.readAllBytes(two.resolve(f)));
        }
        assertThat(Files.readString(one.resolve("index.html"))).isEqualTo(Files.readString(two.resolve("index.html")));
    }

    /** Driver-held images: one Java array bounds the rows at 256 px whatever the heap; the heap bounds them too. */
    @Test
    void rowsThatCannotBeHeldOnTheDriverFailBeforeDecoding() {
        DecodeJob.checkDriverFits(12, 1, 16, 3L << 30);
        DecodeJob.checkDriverFits(10_922, 1, 256, 1L << 50); // 10,922 x 3 x 256 x 256 < 2^31 - 8
        assertThatThrownBy(() -> DecodeJob.checkDriverFits(10_923, 1, 256, 1L << 50))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("--limit 10923: rq decode returns these rows' decoded images to the driver")
                .hasMessageContaining("at most 10922 rows fit");
        // 4 levels at 256 px: 4 x (2 x 4 x 196,608 + 4 x 258^2) = 7,356,480 bytes a row, in half of 4 GiB: 291 rows
        DecodeJob.checkDriverFits(291, 4, 256, 4L << 30);
        assertThatThrownBy(() -> DecodeJob.checkDriverFits(1_000, 4, 256, 4L << 30))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at most 291 rows fit");
    }
}
