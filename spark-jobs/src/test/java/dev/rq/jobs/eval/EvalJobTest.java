package dev.rq.jobs.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.image.ImageDecoding;
import dev.rq.data.image.ImageTransform;
import dev.rq.jobs.tokenize.TokenFixtures;
import dev.rq.model.config.ConfigException;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.loss.Lpips;
import dev.rq.model.metrics.FrechetDistance;
import dev.rq.model.metrics.GaussianStats;
import dev.rq.model.metrics.InceptionV3;
import dev.rq.model.metrics.Psnr;
import dev.rq.model.metrics.Ssim;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.vae.RqVae;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.model.checkpoint.LocalDir;
import java.io.FileNotFoundException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import dev.rq.executor.ExecutorModels;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code rq eval} on a real local Spark session: the job's numbers equal an in-process computation
 * with the same models, do not depend on how the images are cut into tasks, and bad settings fail
 * before any Spark job, naming the key. Random RQ-VAE and Inception weights; 4 emoji images at
 * the tiny model's 16×16, batches of 2; the FID network resizes to 75×75 ({@code
 * eval.inception_size}, about 1/16 of the cost of the FID protocol's 299×299, which
 * OfficialParityTest checks): the job's logic does not depend on that side.
 */
class EvalJobTest {

    static final int IMAGES = 4;
    static final int BATCH = 2;
    static final int INCEPTION_SIZE = InceptionV3.MIN_SIZE;

    @TempDir
    static Path tmp;

    static SparkSession spark;
    static Path checkpoint;
    static Path inception;
    static Path lpips;

    @BeforeAll
    static void setUp() throws Exception {
        spark = TokenFixtures.spark("EvalJobTest");
        checkpoint = TokenFixtures.tinyCheckpoint(tmp.resolve("ckpt"), 3);
        inception = EvalFixtures.randomInception(tmp, 5);
        lpips = EvalFixtures.randomLpips(tmp, 6);
    }

    @AfterAll
    static void tearDown() {
        ExecutorModels.clear();
        if (spark != null) {
            spark.stop();
        }
    }

    static EvalJob.Options options(String output, int rowsPerTask, List<String> sets) {
        return new EvalJob.Options(checkpoint.toString(), TokenFixtures.emojiValidation(), null,
                tmp.resolve(output).toString(), sets, IMAGES, 1, rowsPerTask);
    }

    static List<String> withInception() {
        return List.of("eval.inception_weights=" + inception, "eval.batch_size=" + BATCH,
                "eval.inception_size=" + INCEPTION_SIZE);
    }

    @Test
    void numbersEqualAnInProcessEvaluationAndDoNotDependOnTasks() throws Exception {
        EvalJob.Result one = EvalJob.run(spark, options("eval-one", 0, withInception()));
        EvalJob.Result three = EvalJob.run(spark, options("eval-three", BATCH, withInception()));
        EvalSummary a = one.summary();
        EvalSummary b = three.summary();
        assertThat(a.job().tasks()).isEqualTo(1);
        assertThat(b.job().tasks()).isEqualTo(2);
        assertThat(a.images()).isEqualTo(IMAGES);
        // the same images in the same batches: identical numbers, whatever the task cut
        assertThat(b.rfid()).isEqualTo(a.rfid());
        assertThat(b.psnr()).isEqualTo(a.psnr());
        assertThat(b.ssim()).isEqualTo(a.ssim());
        assertThat(b.codebook()).isEqualTo(a.codebook());

        Path out = Path.of(one.outputUri().replace("file:", ""));
        Dataset<Row> rows = spark.read().parquet(out.resolve(EvalJob.IMAGES_DIR).toString()).orderBy("index");
        List<Row> list = rows.collectAsList();
        assertThat(list).hasSize(IMAGES);
        float[][] fo = new float[IMAGES][];
        float[][] fr = new float[IMAGES][];
        for (int i = 0; i < IMAGES; i++) {
            assertThat(list.get(i).<Long>getAs("index")).isEqualTo(i);
            fo[i] = EvalTable.floats(list.get(i).getAs("features"));
            fr[i] = EvalTable.floats(list.get(i).getAs("recon_features"));
        }
        // rFID is the Fréchet distance of the stored features (one statistics block: the same bits)
        assertThat(a.rfid()).isEqualTo(FrechetDistance.of(GaussianStats.of(fo), GaussianStats.of(fr)));
        assertThat(a.rfid()).isPositive();
        Reference ref = reference(null);
        assertThat(a.psnr().mean()).isCloseTo(ref.psnrMean, within(1e-9));
        assertThat(a.ssim().mean()).isCloseTo(ref.ssimMean, within(1e-9));
        for (int i = 0; i < BATCH; i++) { // the first batch through the FID network in-process
            for (int j = 0; j < InceptionV3.FEATURES; j++) {
                assertThat(fo[i][j]).isCloseTo(ref.firstBatchFeatures[i][j], within(1e-5f * (1 + Math.abs(fo[i][j]))));
            }
        }
        long codesPerDepth = (long) IMAGES * 8 * 8; // tiny: 8x8 codes per depth
        for (EvalSummary.Depth d : a.codebook()) {
            assertThat(d.used()).isBetween(1, d.size());
            assertThat(d.perplexity()).isBetween(1.0, (double) codesPerDepth);
        }
        assertThat(a.notes()).noneMatch(n -> n.startsWith("rFID"));
        assertThat(a.notes()).anyMatch(n -> n.startsWith("eval.inception_size=75") && n.contains("NOT comparable"));

        // output layout: per-image rows, statistics files, report, summary
        assertThat(out.resolve(EvalSummary.FILE)).exists();
        assertThat(Files.readString(out.resolve(EvalJob.REPORT))).contains("rFID").contains("perplexity");
        assertThat(rows.filter("psnr is null or features is null or recon_features is null or codes is null").count())
                .isZero();
        GaussianStats orig;
        try (InputStream in = Files.newInputStream(out.resolve("stats/original.npz"))) {
            orig = GaussianStats.readNpz(in, "original.npz");
        }
        assertThat(orig.count()).isEqualTo(IMAGES);
        assertThat(orig.dim()).isEqualTo(InceptionV3.FEATURES);
        try (InputStream in = Files.newInputStream(Path.of(three.outputUri().replace("file:", ""))
                .resolve("stats/original.npz"))) {
            GaussianStats other = GaussianStats.readNpz(in, "original.npz");
            assertThat(other.mean()).containsExactly(orig.mean());
            assertThat(other.covariance()[7]).containsExactly(orig.covariance()[7]);
        }
    }

    @Test
    void lpipsIsTheOfficialModulesDistanceOfEachImageAndItsClampedReconstruction() throws Exception {
        EvalJob.Result r = EvalJob.run(spark, options("eval-lpips", BATCH,
                List.of("eval.lpips_weights=" + lpips, "eval.batch_size=" + BATCH)));
        List<Row> list = spark.read().parquet(Path.of(r.outputUri().replace("file:", "")).resolve(EvalJob.IMAGES_DIR)
                .toString()).orderBy("index").collectAsList();
        Reference ref = reference(lpips);
        double mean = 0;
        for (int i = 0; i < IMAGES; i++) {
            double v = list.get(i).<Double>getAs(EvalTable.LPIPS);
            assertThat(v).as("image %d", i).isCloseTo(ref.lpips()[i], within(1e-5 * (1 + ref.lpips()[i])));
            mean += v / IMAGES;
        }
        assertThat(mean).isPositive();
        assertThat(r.summary().lpips().n()).isEqualTo(IMAGES);
        assertThat(r.summary().lpips().mean()).isCloseTo(mean, within(1e-12));
        assertThat(r.summary().networks().lpipsSha256()).hasSize(64);
        assertThat(r.summary().notes()).noneMatch(n -> n.startsWith("LPIPS"));
        assertThat(r.text()).contains("LPIPS");
    }

    @Test
    void withoutInceptionWeightsRfidIsReportedAsNotComputedAndARerunReplacesTheOutput() throws Exception {
        EvalJob.Result first = EvalJob.run(spark, options("eval-no-inception", 0, List.of("eval.batch_size=" + BATCH)));
        EvalJob.Result r = EvalJob.run(spark, options("eval-no-inception", BATCH, List.of("eval.batch_size=" + BATCH)));
        assertThat(r.summary().rfid()).isNull();
        assertThat(r.summary().notes()).anyMatch(n -> n.contains("eval.inception_weights is not set"));
        assertThat(r.summary().psnr()).isEqualTo(first.summary().psnr());
        assertThat(r.summary().psnr().n()).isEqualTo(IMAGES);
        assertThat(r.text()).contains("note: rFID: eval.inception_weights is not set");
        // exactly the files the summary lists (2 tasks now, 1 before), the report, the marker and the owner file
        Path out = Path.of(r.outputUri().replace("file:", ""));
        List<String> listed = new java.util.ArrayList<>(r.summary().tables().get(EvalJob.IMAGES_DIR).stream()
                .map(f -> f.path()).toList());
        assertThat(r.summary().tables().get(EvalJob.IMAGES_DIR).stream().mapToLong(f -> f.rows()).sum())
                .isEqualTo(IMAGES);
        listed.addAll(List.of(EvalJob.REPORT, EvalSummary.FILE, dev.rq.io.StagedOutput.OWNER_FILE));
        try (var files = Files.walk(out)) {
            assertThat(files.filter(Files::isRegularFile).map(f -> out.relativize(f).toString())
                    .filter(n -> !n.endsWith(".crc")).toList()).containsExactlyInAnyOrderElementsOf(listed);
        }
    }

    @Test
    void badSettingsFailBeforeAnySparkJobNamingTheKey() throws Exception {
        long jobs = spark.sparkContext().statusTracker().getJobIdsForGroup("rq-eval").length;
        assertThatThrownBy(() -> EvalJob.run(spark, options("bad1", 0,
                List.of("eval.inception_weights=" + tmp.resolve("missing.safetensors")))))
                .isInstanceOf(FileNotFoundException.class).hasMessageContaining("eval.inception_weights");
        assertThatThrownBy(() -> EvalJob.run(spark, options("bad2", 0, List.of("eval.batch_sise=4"))))
                .isInstanceOf(ConfigException.class).hasMessageContaining("eval.batch_sise: unknown key");
        assertThatThrownBy(() -> EvalJob.run(spark, options("bad3", 0, List.of("train.lr=1"))))
                .isInstanceOf(ConfigException.class).hasMessageContaining("only eval.*");
        assertThatThrownBy(() -> EvalJob.run(spark, options("bad5", 0, List.of("eval.inception_size=64"))))
                .isInstanceOf(ConfigException.class).hasMessageContaining("eval.inception_size")
                .hasMessageContaining("at least 75");
        Path notInception = tmp.resolve("not-inception.safetensors");
        try (var o = Files.newOutputStream(notInception)) {
            SafeTensors.write(java.util.Map.of("x", dev.rq.model.safetensors.HostTensor.ofFloats(new float[1], 1)),
                    null, o);
        }
        assertThatThrownBy(() -> EvalJob.run(spark, options("bad4", 0,
                List.of("eval.inception_weights=" + notInception))))
                .hasMessageContaining("eval.inception_weights").hasMessageContaining("not an FID Inception state dict");
        assertThatThrownBy(() -> EvalJob.run(spark, options("bad6", 0,
                List.of("eval.lpips_weights=" + notInception))))
                .hasMessageContaining("eval.lpips_weights").hasMessageContaining("not an LPIPS state dict");
        Files.createDirectories(tmp.resolve("taken"));
        Files.writeString(tmp.resolve("taken/precious.txt"), "keep");
        assertThatThrownBy(() -> EvalJob.run(spark, options("taken", 0, List.of())))
                .hasMessageContaining("refusing to replace");
        assertThat(tmp.resolve("taken/precious.txt")).exists();
        assertThat(spark.sparkContext().statusTracker().getJobIdsForGroup("rq-eval").length).isEqualTo(jobs);
    }

    /**
     * The same evaluation in-process: PSNR and SSIM of every image, then FID features of the first
     * batch (without {@code lpipsWeights}) or LPIPS of every image (with).
     */
    record Reference(double psnrMean, double ssimMean, float[][] firstBatchFeatures, double[] lpips) {}

    static Reference reference(Path lpipsWeights) throws Exception {
        CanonicalDataset ds = CanonicalDataset.open(TokenFixtures.emojiValidation(), new Configuration());
        List<CanonicalDataset.Sample> samples = ds.readAll().subList(0, IMAGES);
        int s = 16;
        int n = 3 * s * s;
        ImageTransform t = new ImageTransform(s, ImageTransform.Mode.EVAL);
        float[] x = new float[IMAGES * n];
        for (int i = 0; i < IMAGES; i++) {
            t.apply(ImageDecoding.decode(samples.get(i).bytes()), 0L, x, i * n);
        }
        Engines.pytorch(1);
        double psnr = 0;
        double ssim = 0;
        float[][] first = new float[BATCH][];
        double[] lp = new double[IMAGES];
        try (NDManager m = Engines.newManager();
                InputStream lw = lpipsWeights == null ? null : Files.newInputStream(lpipsWeights);
                Lpips perceptual = lw == null ? null : Lpips.fromStateDict(SafeTensors.read(lw).tensors(), m);
                RqVae vae = VaeCheckpoint.load(new LocalDir(checkpoint), m).vae();
                InputStream w = lpipsWeights != null ? null : Files.newInputStream(inception);
                InceptionV3 net = w == null ? null
                        : InceptionV3.fromStateDict(SafeTensors.read(w).tensors(), m, INCEPTION_SIZE)) {
            for (int b = 0; b < IMAGES; b += BATCH) {
                float[] xb = java.util.Arrays.copyOfRange(x, b * n, (b + BATCH) * n);
                NDArray in = m.create(xb, new Shape(BATCH, 3, s, s));
                NDArray recon = vae.forward(in, false, Collective.local(), null).recon();
                float[] rec = recon.toFloatArray();
                if (perceptual != null) {
                    float[] d = perceptual.distance(in, recon.clip(-1f, 1f)).toFloatArray();
                    for (int i = 0; i < BATCH; i++) {
                        lp[b + i] = d[i];
                    }
                }
                for (int i = 0; i < BATCH; i++) {
                    psnr += Psnr.of(xb, i * n, rec, i * n, n) / IMAGES;
                    ssim += Ssim.of(xb, i * n, rec, i * n, 3, s, s) / IMAGES;
                }
                if (b == 0 && net != null) {
                    float[] a = net.features(in.mul(0.5f).add(0.5f).clip(0f, 1f)).toFloatArray();
                    int d = InceptionV3.FEATURES;
                    for (int i = 0; i < BATCH; i++) {
                        first[i] = java.util.Arrays.copyOfRange(a, i * d, (i + 1) * d);
                    }
                }
            }
        }
        return new Reference(psnr, ssim, first, lp);
    }
}
