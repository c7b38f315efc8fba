package dev.rq.jobs.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import dev.rq.jobs.ingest.IngestJob;
import dev.rq.jobs.sample.SampleJob;
import dev.rq.jobs.tokenize.TokenFixtures;
import dev.rq.model.checkpoint.LocalDir;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.metrics.FrechetDistance;
import dev.rq.model.metrics.GaussianStats;
import dev.rq.model.metrics.InceptionScore;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.transformer.TransformerCheckpoint;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.Row;
import dev.rq.executor.ExecutorModels;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code rq eval --generated} on a real local Spark session: 4 images sampled by {@code rq sample}
 * from random tiny models, evaluated from their codes (float) and, ingested from their PNGs, as an
 * image dataset (8-bit). FID of a set against its own statistics is 0, FID is symmetric, the
 * statistics do not depend on the task cut, and the Inception Score is that of the stored logits.
 * The FID network resizes to 75×75 ({@code eval.inception_size}; 299×299 costs 16 times more).
 */
class GeneratedEvalJobTest {

    @TempDir
    static Path tmp;

    static SparkSession spark;
    static Path samples;
    static Path pngs;
    static Path inception;
    /** generated = sampled codes, reference = the same images' PNGs (as a dataset). */
    static EvalJob.Result first;

    @BeforeAll
    static void setUp() throws Exception {
        spark = TokenFixtures.spark("GeneratedEvalJobTest");
        Path vae = TokenFixtures.tinyCheckpoint(tmp.resolve("vae"), 5);
        TransformerRunConfig cfg = TransformerRunConfig.load(
                TokenFixtures.repo().resolve("conf/rqtransformer/tiny.yaml"), List.of("vae.checkpoint=" + vae));
        Path transformer = tmp.resolve("transformer");
        Engines.pytorch(2);
        try (NDManager m = Engines.newManager(); RqTransformer t = RqTransformer.create(cfg.model(), m, 3)) {
            TransformerCheckpoint.save(new LocalDir(transformer), t, cfg, 0, null, null);
        }
        samples = tmp.resolve("samples");
        SampleJob.run(spark, new SampleJob.Options(transformer.toString(), null, "1,3", 2, samples.toString(), null,
                null, null, 11, 2, 1));
        pngs = tmp.resolve("pngs");
        IngestJob.run(spark, new IngestJob.Options(samples.resolve("images").toString(),
                IngestJob.InputFormat.IMAGEFOLDER, pngs.toString(), "val", 1, null, null, null));
        inception = EvalFixtures.randomInception(tmp, 9);
        first = GeneratedEvalJob.run(spark, options(samples, pngs, "first", 0));
    }

    @AfterAll
    static void tearDown() {
        ExecutorModels.clear();
        if (spark != null) {
            spark.stop();
        }
    }

    static GeneratedEvalJob.Options options(Path generated, Path reference, String out, int rowsPerTask) {
        return options(generated, reference, out, rowsPerTask, null);
    }

    static GeneratedEvalJob.Options options(Path generated, Path reference, String out, int rowsPerTask,
            Integer resolution) {
        return new GeneratedEvalJob.Options(generated.toString(), null, reference.toString(), "val", resolution, null,
                tmp.resolve(out).toString(), List.of("eval.inception_weights=" + inception, "eval.batch_size=2",
                        "eval.is_splits=2", "eval.inception_size=75"), 0, 1, rowsPerTask);
    }

    static GaussianStats stats(EvalJob.Result r, String name) throws Exception {
        try (InputStream in = Files.newInputStream(Path.of(r.outputUri().replace("file:", "")).resolve("stats/" + name))) {
            return GaussianStats.readNpz(in, name);
        }
    }

    @Test
    void fidOfTheSameImagesIsZeroAndTheTaskCutDoesNotMatter() throws Exception {
        assertThat(first.summary().images()).isEqualTo(4);
        assertThat(first.summary().inputs().referenceImages()).isEqualTo(4);
        assertThat(first.summary().fid()).as("float decoding vs 8-bit PNGs of the same images").isPositive();
        GaussianStats gen = stats(first, "generated.npz");
        EvalJob.Result self = GeneratedEvalJob.run(spark,
                options(samples, Path.of(first.outputUri().replace("file:", "")).resolve("stats/generated.npz"),
                        "self", 2));
        assertThat(self.summary().job().tasks()).isEqualTo(2);
        double scale = FrechetDistance.trace(gen.covariance());
        assertThat(self.summary().fid()).isCloseTo(0.0, within(1e-6 * scale));
        GaussianStats again = stats(self, "generated.npz");
        assertThat(again.mean()).containsExactly(gen.mean());
        for (int i = 0; i < gen.dim(); i += 97) {
            assertThat(again.covariance()[i]).containsExactly(gen.covariance()[i]);
        }
        assertThat(self.summary().inceptionScore()).isEqualTo(first.summary().inceptionScore());
    }

    @Test
    void fidIsSymmetric() throws Exception {
        // the PNG dataset as the generated set, the sampled codes' statistics as the reference
        EvalJob.Result swapped = GeneratedEvalJob.run(spark,
                options(pngs, Path.of(first.outputUri().replace("file:", "")).resolve("stats/generated.npz"),
                        "swapped", 0, 16));
        assertThat(stats(swapped, "generated.npz").mean()).containsExactly(stats(first, "reference.npz").mean());
        assertThat(swapped.summary().fid()).isCloseTo(first.summary().fid(), within(1e-9 * first.summary().fid()));
    }

    @Test
    void inceptionScoreIsThatOfTheStoredLogits() throws Exception {
        List<Row> rows = spark.read().parquet(Path.of(first.outputUri().replace("file:", ""))
                .resolve(GeneratedEvalJob.GENERATED_DIR).toString()).orderBy("index").collectAsList();
        float[][] logits = new float[rows.size()][];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = EvalTable.floats(rows.get(i).getAs(EvalTable.LOGITS));
        }
        assertThat(rows.get(0).<String>getAs(EvalTable.ID)).isEqualTo("class-1/0");
        assertThat(rows.get(3).<String>getAs(EvalTable.ID)).isEqualTo("class-3/1");
        InceptionScore.Result is = InceptionScore.of(logits, 2);
        assertThat(first.summary().inceptionScore().mean()).isEqualTo(is.mean());
        assertThat(first.summary().inceptionScore().std()).isEqualTo(is.std());
        assertThat(is.mean()).isGreaterThan(1.0);
        assertThat(Files.readString(Path.of(first.outputUri().replace("file:", "")).resolve(EvalJob.REPORT)))
                .contains("FID").contains("Inception Score");
    }

    @Test
    void fidNeedsInceptionWeightsAndADatasetNeedsAResolution() {
        assertThatThrownBy(() -> GeneratedEvalJob.run(spark, new GeneratedEvalJob.Options(samples.toString(), null,
                pngs.toString(), "val", null, null, tmp.resolve("x").toString(), List.of(), 0, 1, 0)))
                .isInstanceOf(ConfigException.class).hasMessageContaining("eval.inception_weights");
        assertThatThrownBy(() -> GeneratedEvalJob.run(spark, options(pngs, pngs, "y", 0)))
                .hasMessageContaining("--resolution");
        assertThatThrownBy(() -> GeneratedEvalJob.run(spark, options(samples, tmp.resolve("nothing.npz"), "z", 0)))
                .hasMessageContaining("--reference");
    }
}
