package dev.rq.jobs.sample;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rq.executor.ExecutorModels;
import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.tokenize.TokenFixtures;
import dev.rq.tables.SampleLayout;
import dev.rq.model.checkpoint.LocalDir;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.sampling.RqSampler;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.transformer.TransformerCheckpoint;
import dev.rq.model.util.Rng;
import dev.rq.model.vae.RqVae;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.report.ImageGrid;
import dev.rq.tables.TokenRow;
import dev.rq.tables.TokenTable;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code rq sample} on real local Spark sessions with Kryo registration required: a random tiny
 * RQ-Transformer on a random tiny RQ-VAE (8×8×4 codes, K = 32, 10 classes, 16² images).
 */
class SampleJobTest {

    static SparkSession spark;
    @TempDir static Path tmp;
    static Path vae;
    static Path transformer;
    /** local[2], batch 4 (units cross the class boundary). */
    static SampleJob.Result reference;
    static Map<String, int[]> referenceCodes;
    /** local[1], batch 3. */
    static Map<String, int[]> oneWorkerCodes;

    static final long SEED = 7;

    @BeforeAll
    static void start() throws Exception {
        vae = TokenFixtures.tinyCheckpoint(tmp.resolve("vae"), 5);
        TransformerRunConfig cfg = TransformerRunConfig.load(
                TokenFixtures.repo().resolve("conf/rqtransformer/tiny.yaml"), List.of("vae.checkpoint=" + vae));
        transformer = tmp.resolve("transformer");
        Engines.pytorch(2);
        try (NDManager m = Engines.newManager(); RqTransformer t = RqTransformer.create(cfg.model(), m, 3)) {
            TransformerCheckpoint.save(new LocalDir(transformer), t, cfg, 0, null, null);
        }
        // --workers 1 first, on its own session
        SparkSession one = SparkSessions.getOrCreate("test-sample-1", 1);
        assertThat(one.sparkContext().master()).startsWith("local[1");
        SampleJob.run(one, options("1,3", 5, tmp.resolve("one"), 3));
        oneWorkerCodes = codes(one, tmp.resolve("one"));
        one.stop();
        spark = SparkSessions.getOrCreate("test-sample-2", 2);
        assertThat(spark.sparkContext().master()).startsWith("local[2");
        reference = SampleJob.run(spark, options("1,3", 5, tmp.resolve("ref"), 4));
        referenceCodes = codes(spark, tmp.resolve("ref"));
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
    }

    /** Defaults from the checkpoint config (temperature 1, top-k 16), top-p overridden to 0.9. */
    static SampleJob.Options options(String classes, int perClass, Path out, Integer batch) {
        return new SampleJob.Options(transformer.toString(), null, classes, perClass, out.toString(), null, null, 0.9,
                SEED, batch, 1);
    }

    static Map<String, int[]> codes(SparkSession s, Path out) throws Exception {
        Map<String, int[]> m = new TreeMap<>();
        for (TokenRow r : TokenTable.read(s, out.resolve("codes").toString()).typed().collectAsList()) {
            m.put(r.getId(), r.getCodes());
        }
        return m;
    }

    @Test
    void writesImagesGridsIndexAndCodesTable() throws Exception {
        Path out = tmp.resolve("ref");
        for (int c : List.of(1, 3)) {
            for (int i = 0; i < 5; i++) {
                BufferedImage img = ImageIO.read(out.resolve("images/class-" + c + "/" + i + ".png").toFile());
                assertThat(img.getWidth()).isEqualTo(16);
                assertThat(img.getHeight()).isEqualTo(16);
            }
            try (Stream<Path> files = Files.list(out.resolve("images/class-" + c))) {
                assertThat(files.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")) // .crc
                        .sorted().toList()).containsExactly("0.png", "1.png", "2.png", "3.png", "4.png");
            }
            BufferedImage grid = ImageIO.read(out.resolve("grids/class-" + c + ".png").toFile());
            assertThat(grid.getWidth()).isEqualTo(3 * 16 + 4 * 2); // 5 samples: 3 columns, 2 rows
            assertThat(grid.getHeight()).isEqualTo(2 * 16 + 3 * 2);
        }
        try (Stream<Path> dirs = Files.list(out.resolve("images"))) {
            assertThat(dirs.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).sorted()
                    .toList()).containsExactly("class-1", "class-3");
        }
        String html = Files.readString(out.resolve("index.html"));
        assertThat(html).contains("grids/class-1.png").contains("grids/class-3.png").contains("rq sample");
        // nothing left next to the output
        try (Stream<Path> siblings = Files.list(tmp)) {
            assertThat(siblings.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".")).toList())
                    .isEmpty();
        }
    }

    @Test
    void codesTableReadsBackWithSettingsInTheManifest() throws Exception {
        TokenTable t = TokenTable.read(spark, tmp.resolve("ref/codes").toString());
        assertThat(t.codeShape()).containsExactly(8, 8, 4);
        assertThat(t.splits()).containsExactly(SampleLayout.SPLIT);
        t.verifyCounts();
        List<TokenRow> rows = t.typed().collectAsList();
        assertThat(rows).hasSize(10);
        for (TokenRow r : rows) {
            int c = Integer.parseInt(r.getId().substring("class-".length(), r.getId().indexOf('/')));
            assertThat(r.getLabel()).isEqualTo(c);
            assertThat(r.getVariant()).isZero();
            assertThat(r.getCodes()).hasSize(8 * 8 * 4);
            assertThat(java.util.Arrays.stream(r.getCodes()).min().orElseThrow()).isGreaterThanOrEqualTo(0);
            assertThat(java.util.Arrays.stream(r.getCodes()).max().orElseThrow()).isLessThan(32);
        }
        assertThat(referenceCodes.keySet()).containsExactly("class-1/0", "class-1/1", "class-1/2", "class-1/3",
                "class-1/4", "class-3/0", "class-3/1", "class-3/2", "class-3/3", "class-3/4");
        JsonNode m = new ObjectMapper().readTree(tmp.resolve("ref/codes/_tokens_manifest.json").toFile());
        assertThat(m.at("/sampling/temperature").asDouble()).isEqualTo(1.0);
        assertThat(m.at("/sampling/top_k/0").asInt()).isEqualTo(16); // tiny.yaml's sampling section
        assertThat(m.at("/sampling/top_p/0").asDouble()).isEqualTo(0.9); // the override
        assertThat(m.at("/sampling/seed").asLong()).isEqualTo(SEED);
        assertThat(m.at("/sampling/batch_size").asInt()).isEqualTo(4);
        assertThat(m.at("/generator/checkpoint_uri").asText()).endsWith("/transformer");
        assertThat(m.at("/generator/checkpoint_sha256").asText()).hasSize(64);
        assertThat(m.at("/tokenizer/checkpoint_uri").asText()).endsWith("/vae");
        assertThat(m.at("/tokenizer/checkpoint_sha256").asText()).hasSize(64);
        assertThat(m.at("/job/tasks").asInt()).isEqualTo(3); // 10 samples in batches of 4
    }

    @Test
    void sameSeedSameCodesWhateverWorkersAndBatchSize() throws Exception {
        assertThat(oneWorkerCodes.keySet()).isEqualTo(referenceCodes.keySet());
        referenceCodes.forEach((id, c) -> assertThat(oneWorkerCodes.get(id)).as(id).isEqualTo(c));
        int loads = ExecutorModels.loadCount(SamplerModel.KIND); // 1, or 2 after the guidance test's checkpoint
        // a single batch of 10 on local[2], into the workers=1 output (replaces it), and a subset
        Path out = tmp.resolve("one");
        SampleJob.run(spark, options("3,1", 5, out, 10));
        Map<String, int[]> big = codes(spark, out);
        referenceCodes.forEach((id, c) -> assertThat(big.get(id)).as(id).isEqualTo(c));
        SampleJob.run(spark, options("3", 2, tmp.resolve("subset"), 1));
        Map<String, int[]> sub = codes(spark, tmp.resolve("subset"));
        assertThat(sub.keySet()).containsExactly("class-3/0", "class-3/1");
        sub.forEach((id, c) -> assertThat(c).as(id).isEqualTo(referenceCodes.get(id)));
        // a different seed gives other codes
        SampleJob.run(spark, new SampleJob.Options(transformer.toString(), null, "3", 2, tmp.resolve("seed8")
                .toString(), null, null, 0.9, SEED + 1, 2, 1));
        assertThat(codes(spark, tmp.resolve("seed8")).get("class-3/0")).isNotEqualTo(referenceCodes.get("class-3/0"));
        // every run used the executor's loaded model pair (local mode: one executor)
        assertThat(ExecutorModels.loadCount(SamplerModel.KIND)).isEqualTo(loads).isBetween(1, 2);
    }

    @Test
    void sampleEqualsInProcessSamplerAndPngEqualsDecodedCodes() throws Exception {
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager()) {
            var t = TransformerCheckpoint.load(new LocalDir(transformer), m);
            var v = VaeCheckpoint.load(new LocalDir(vae), m);
            try (RqTransformer model = t.model(); RqVae rqvae = v.vae()) {
                RqSampler sampler = new RqSampler(model, rqvae);
                for (int[] ci : new int[][] {{1, 0}, {3, 4}}) {
                    String id = SampleLayout.sampleId(ci[0], ci[1]);
                    Rng[] rows = {SampleJob.generator(SEED, ci[0], ci[1])};
                    long[] codes = sampler.sample(new long[] {ci[0]}, reference.sampling(), rows, true);
                    int[] want = referenceCodes.get(id);
                    assertThat(codes).hasSize(want.length);
                    for (int j = 0; j < want.length; j++) {
                        assertThat(codes[j]).as(id + " code " + j).isEqualTo(want[j]);
                    }
                    // decoding the stored row gives the saved PNG (within 1/255)
                    long[] stored = new long[want.length];
                    for (int j = 0; j < want.length; j++) {
                        stored[j] = want[j];
                    }
                    float[] x;
                    try (NDManager sub = m.newSubManager()) {
                        x = rqvae.decodeCodes(sampler.toTensor(sub, stored)).toFloatArray();
                    }
                    BufferedImage png = ImageIO.read(tmp.resolve("ref/images/" + id + ".png").toFile());
                    int plane = 16 * 16;
                    for (int y = 0; y < 16; y++) {
                        for (int xx = 0; xx < 16; xx++) {
                            int rgb = png.getRGB(xx, y);
                            int[] got = {(rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff};
                            for (int ch = 0; ch < 3; ch++) {
                                int exp = ImageGrid.toByte(x[ch * plane + y * 16 + xx]);
                                assertThat(Math.abs(got[ch] - exp)).as(id + " pixel " + xx + "," + y).isLessThanOrEqualTo(1);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void classifierFreeGuidanceFromTheConfigOrTheOptionIsRecordedAndEqualsTheInProcessSampler() throws Exception {
        TransformerRunConfig cfg = TransformerRunConfig.load(TokenFixtures.repo().resolve("conf/rqtransformer/tiny.yaml"),
                List.of("vae.checkpoint=" + vae, "model.cond_drop_prob=0.1", "sampling.cfg_scale=2.5"));
        Path guided = tmp.resolve("transformer-cfg");
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager(); RqTransformer t = RqTransformer.create(cfg.model(), m, 3)) {
            TransformerCheckpoint.save(new LocalDir(guided), t, cfg, 0, null, null);
        }
        Path out = tmp.resolve("cfg-default");
        SampleJob.Result r = SampleJob.run(spark, new SampleJob.Options(guided.toString(), null, "all", 1,
                out.toString(), null, null, null, SEED, 4, 1));
        assertThat(r.classes()).hasSize(10); // the null class is not a class to sample
        assertThat(r.sampling().cfgScale()).isEqualTo(2.5);
        JsonNode manifest = new ObjectMapper().readTree(out.resolve("codes/_tokens_manifest.json").toFile());
        assertThat(manifest.at("/sampling/cfg_scale").asDouble()).isEqualTo(2.5);
        assertThat(Files.readString(out.resolve("index.html"))).contains("guidance scale").contains("2.5");
        Map<String, int[]> got = codes(spark, out);
        Path plainOut = tmp.resolve("cfg-off");
        SampleJob.Result plain = SampleJob.run(spark, new SampleJob.Options(guided.toString(), null, "3", 1,
                plainOut.toString(), null, null, null, SEED, 4, 1, dev.rq.model.engine.Precision.FP32, 1.0));
        assertThat(plain.sampling().guided()).isFalse();
        String id = SampleLayout.sampleId(3, 0);
        assertThat(codes(spark, plainOut).get(id)).isNotEqualTo(got.get(id));
        try (NDManager m = Engines.newManager()) {
            var t = TransformerCheckpoint.load(new LocalDir(guided), m);
            var v = VaeCheckpoint.load(new LocalDir(vae), m);
            try (RqTransformer model = t.model(); RqVae rqvae = v.vae()) {
                long[] codes = new RqSampler(model, rqvae).sample(new long[] {3}, r.sampling(),
                        new Rng[] {SampleJob.generator(SEED, 3, 0)}, true);
                int[] want = got.get(id);
                assertThat(codes).hasSize(want.length);
                for (int j = 0; j < want.length; j++) {
                    assertThat(codes[j]).as(id + " code " + j).isEqualTo(want[j]);
                }
            }
        }
        // a scale other than 1 on a checkpoint without the null class: an error naming the option, no output
        Path bad = tmp.resolve("cfg-bad");
        assertThatThrownBy(() -> SampleJob.run(spark, new SampleJob.Options(transformer.toString(), null, "1", 1,
                        bad.toString(), null, null, null, 0, null, 1, dev.rq.model.engine.Precision.FP32, 2.0)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("--cfg-scale")
                .hasMessageContaining("model.cond_drop_prob");
        assertThat(bad).doesNotExist();
    }

    @Test
    void failsClearlyOnBadClassesAndAMismatchedVae() throws Exception {
        Path out = tmp.resolve("bad");
        assertThatThrownBy(() -> SampleJob.run(spark, options("1,10", 1, out, 4)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--classes")
                .hasMessageContaining("class 10 is outside [0, 10)");
        assertThatThrownBy(() -> SampleJob.run(spark, options("x", 1, out, 4)))
                .hasMessageContaining("--classes");
        RqVaeRunConfig other = Configs.loadRqVae(TokenFixtures.repo().resolve("conf/rqvae/tiny.yaml"),
                List.of("model.hparams.n_embed=64"));
        Path otherVae = tmp.resolve("vae-k64");
        try (NDManager m = Engines.newManager(); RqVae v = RqVae.create(other.model(), m, 1)) {
            VaeCheckpoint.save(new LocalDir(otherVae), v, other, 0, null, null);
        }
        assertThatThrownBy(() -> SampleJob.run(spark, new SampleJob.Options(transformer.toString(),
                        otherVae.toString(), "1", 1, out.toString(), null, null, null, 0, null, 1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--vae")
                .hasMessageContaining("model.vocab_size");
        RqVaeRunConfig narrow = Configs.loadRqVae(TokenFixtures.repo().resolve("conf/rqvae/tiny.yaml"),
                List.of("model.hparams.embed_dim=8", "model.hparams.latent_shape=[8,8,8]"));
        Path narrowVae = tmp.resolve("vae-c8");
        try (NDManager m = Engines.newManager(); RqVae v = RqVae.create(narrow.model(), m, 1)) {
            VaeCheckpoint.save(new LocalDir(narrowVae), v, narrow, 0, null, null);
        }
        assertThatThrownBy(() -> SampleJob.run(spark, new SampleJob.Options(transformer.toString(),
                        narrowVae.toString(), "1", 1, out.toString(), null, null, null, 0, null, 1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--vae")
                .hasMessageContaining("model.input_embed_dim");
        assertThatThrownBy(() -> SampleJob.run(spark, new SampleJob.Options(vae.toString(), null, "1", 1,
                        out.toString(), null, null, null, 0, null, 1)))
                .hasMessageContaining("--checkpoint").hasMessageContaining("not an RQ-Transformer");
        assertThat(out).doesNotExist();
        // a folder that is not a sample output is never replaced
        Path foreign = tmp.resolve("foreign");
        Files.createDirectories(foreign);
        Files.writeString(foreign.resolve("keep.txt"), "x");
        assertThatThrownBy(() -> SampleJob.run(spark, options("1", 1, foreign, 4)))
                .hasMessageContaining("--output").hasMessageContaining("refusing");
        assertThat(foreign.resolve("keep.txt")).exists();
    }
    /**
     * The images are checked with one recursive listing, not one per class (1,000 classes on an
     * object store were 1,000 sequential LIST calls); a missing image is named, extra files ignored.
     */
    @Test
    void verifyImagesListsOnceAndNamesAMissingImage() throws Exception {
        Path dir = tmp.resolve("verify");
        for (int c : List.of(3, 7)) {
            for (int i = 0; i < 3; i++) {
                Files.createDirectories(dir.resolve("images/class-" + c));
                Files.write(dir.resolve("images/class-" + c + "/" + i + ".png"), new byte[] {1});
            }
        }
        Files.write(dir.resolve("images/class-7/9.png"), new byte[] {1}); // extra: ignored
        Files.createDirectories(dir.resolve("images/class-8"));
        Files.write(dir.resolve("images/class-8/0.png"), new byte[] {1});
        Files.write(dir.resolve("images/notes.txt"), new byte[] {1});
        CountingFs fs = new CountingFs();
        org.apache.hadoop.fs.Path root = new org.apache.hadoop.fs.Path(dir.toUri().toString());
        assertThat(SampleJob.verifyImages(fs, root, List.of(7, 3), 3)).containsExactly(
                "images/class-7/0.png", "images/class-7/1.png", "images/class-7/2.png",
                "images/class-3/0.png", "images/class-3/1.png", "images/class-3/2.png");
        assertThat(fs.listFiles).as("one recursive listing").isEqualTo(1);
        assertThat(fs.listStatus).as("no listing per class").isZero();

        Files.delete(dir.resolve("images/class-3/1.png"));
        assertThatThrownBy(() -> SampleJob.verifyImages(fs, root, List.of(7, 3), 3))
                .hasMessageContaining("images/class-3/1.png is missing").hasMessageContaining("1 of 6 missing");
        assertThatThrownBy(() -> SampleJob.verifyImages(fs, root, List.of(7, 3), 4))
                .hasMessageContaining("images/class-7/3.png is missing").hasMessageContaining("3 of 8 missing");
        assertThatThrownBy(() -> SampleJob.verifyImages(fs, new org.apache.hadoop.fs.Path(root, "nothing"),
                List.of(1), 1)).hasMessageContaining("images/class-1/0.png is missing");
    }

    /** The grids are made in Spark tasks, one class per call, in class order; each tiles the class's first images. */
    @Test
    void gridsAreWrittenByTasksInClassOrder() throws Exception {
        Path dir = tmp.resolve("grids");
        int[][] colors = {{0xFF0000, 0x00FF00}, {0x0000FF, 0xFFFF00}};
        List<Integer> classes = List.of(5, 2);
        for (int k = 0; k < 2; k++) {
            Files.createDirectories(dir.resolve("images/class-" + classes.get(k)));
            for (int i = 0; i < 2; i++) {
                BufferedImage img = new BufferedImage(4, 4, BufferedImage.TYPE_INT_RGB);
                for (int y = 0; y < 4; y++) {
                    for (int x = 0; x < 4; x++) {
                        img.setRGB(x, y, colors[k][i]);
                    }
                }
                ImageIO.write(img, "png", dir.resolve("images/class-" + classes.get(k) + "/" + i + ".png").toFile());
            }
        }
        List<String> grids = SampleJob.writeGrids(spark, new dev.rq.io.SerializableHadoopConf(
                new org.apache.hadoop.conf.Configuration()), dir.toUri().toString(), classes, 2);
        assertThat(grids).containsExactly("grids/class-5.png", "grids/class-2.png");
        for (int k = 0; k < 2; k++) {
            BufferedImage grid = ImageIO.read(dir.resolve(grids.get(k)).toFile());
            assertThat(grid.getWidth()).isEqualTo(2 * 4 + 3 * 2); // 2 images: 2 columns, 1 row, 2 px padding
            assertThat(grid.getHeight()).isEqualTo(4 + 2 * 2);
            assertThat(grid.getRGB(2, 2) & 0xFFFFFF).isEqualTo(colors[k][0]);
            assertThat(grid.getRGB(2 + 4 + 2, 2) & 0xFFFFFF).isEqualTo(colors[k][1]);
        }
    }

    /** The local file system, counting its listing calls (not a LocalFileSystem: listed as an object store is). */
    static final class CountingFs extends org.apache.hadoop.fs.FilterFileSystem {
        int listFiles;
        int listStatus;

        CountingFs() throws java.io.IOException {
            super(org.apache.hadoop.fs.FileSystem.getLocal(new org.apache.hadoop.conf.Configuration()));
        }

        @Override
        public org.apache.hadoop.fs.RemoteIterator<org.apache.hadoop.fs.LocatedFileStatus> listFiles(
                org.apache.hadoop.fs.Path f, boolean recursive) throws java.io.IOException {
            listFiles++;
            return fs.listFiles(f, recursive);
        }

        @Override
        public org.apache.hadoop.fs.FileStatus[] listStatus(org.apache.hadoop.fs.Path f) throws java.io.IOException {
            listStatus++;
            return super.listStatus(f);
        }
    }
}
