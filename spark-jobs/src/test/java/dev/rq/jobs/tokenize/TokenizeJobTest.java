package dev.rq.jobs.tokenize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rq.executor.ExecutorModels;
import dev.rq.executor.RqVaeModel;
import dev.rq.model.checkpoint.ModelHashes;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.checkpoint.LocalDir;
import dev.rq.model.engine.Engines;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.tables.TokenManifest;
import dev.rq.tables.TokenTable;
import dev.rq.tables.TokenTableSchema;
import dev.rq.tables.Variant;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The tokenize job on a real local[2,3] session with the tiny model and the emoji validation split. */
class TokenizeJobTest {
    private static SparkSession spark;
    private static Path ckpt;
    private static final AtomicInteger FAILED_TASKS = new AtomicInteger();

    @TempDir static Path shared;
    @TempDir Path tmp;

    @BeforeAll
    static void setUp() throws Exception {
        spark = TokenFixtures.spark("TokenizeJobTest");
        spark.sparkContext().addSparkListener(new SparkListener() {
            @Override
            public void onTaskEnd(SparkListenerTaskEnd e) {
                if (!e.taskInfo().successful()) {
                    FAILED_TASKS.incrementAndGet();
                }
            }
        });
        ckpt = TokenFixtures.tinyCheckpoint(shared.resolve("ckpt"), 11);
    }

    @AfterAll
    static void tearDown() {
        spark.stop();
        ExecutorModels.clear();
    }

    private static TokenizeJob.Options options(String out, List<Variant> variants, boolean latents) {
        return new TokenizeJob.Options(ckpt.toString(), TokenFixtures.repo().resolve("data/emoji").toString(), out,
                variants, 8, List.of("validation"), latents, 2, 40);
    }

    @Test
    void writesSchemaCountsProvenanceAndInProcessCodes() throws Exception {
        String out = tmp.resolve("tokens").toString();
        int loadsBefore = ExecutorModels.loadCount(RqVaeModel.KIND);
        TokenizeJob.Result r = TokenizeJob.run(spark, options(out, List.of(Variant.CENTER, Variant.HFLIP), true));
        assertThat(ExecutorModels.loadCount(RqVaeModel.KIND) - loadsBefore).as("one load per executor").isLessThanOrEqualTo(1);

        // manifest
        TokenManifest m = TokenManifest.read(out, spark.sparkContext().hadoopConfiguration());
        assertThat(m.format()).isEqualTo("rq-token-table");
        assertThat(m.formatVersion()).isEqualTo(1);
        assertThat(m.codeShape()).containsExactly(8, 8, 4);
        assertThat(m.codeLayout()).isEqualTo("hwd");
        assertThat(m.codeDtype()).isEqualTo("int16");
        assertThat(m.codebookSize()).isEqualTo(32);
        assertThat(m.sharedCodebook()).isTrue();
        assertThat(m.splits()).containsOnlyKeys("validation");
        assertThat(m.splits().get("validation").images()).isEqualTo(186);
        assertThat(m.splits().get("validation").rows()).isEqualTo(372);
        assertThat(m.labelNames()).hasSize(9).startsWith("activities");
        assertThat(m.variants()).containsOnlyKeys("0", "1");
        assertThat(m.preprocess().size()).isEqualTo(16);
        assertThat(m.latents().shape()).containsExactly(8, 8, 16);
        Checkpoints.Loaded c = Checkpoints.read(new LocalDir(ckpt));
        assertThat(m.tokenizer().checkpointSha256()).isEqualTo(c.manifest().files().get("model.safetensors").sha256());
        assertThat(m.tokenizer().codebookSha256())
                .isEqualTo(ModelHashes.codebookSha256(c.model(), TokenFixtures.tinyConfig().model().hparams()))
                .hasSize(64);
        assertThat(m.tokenizer().config().path("ddconfig").path("resolution").asInt()).isEqualTo(16);
        assertThat(m.createdBy()).containsKeys("rq", "spark", "djl", "libtorch");
        assertThat(m.job().imagesPerSecond()).isPositive();
        JsonNode raw = new ObjectMapper().readTree(Files.readString(Path.of(out, "_tokens_manifest.json")));
        assertThat(raw.path("format_version").asInt()).isEqualTo(1);
        assertThat(raw.path("tokenizer").path("checkpoint_sha256").asText()).hasSize(64);

        // schema, incl. provenance in the Parquet row metadata
        TokenTable t = TokenTable.read(spark, out);
        StructField codes = t.rows().schema().apply("codes");
        assertThat(((ArrayType) codes.dataType()).elementType()).isEqualTo(DataTypes.ShortType);
        assertThat(t.rows().schema().apply("variant").dataType()).isEqualTo(DataTypes.ShortType);
        assertThat(t.rows().schema().apply("label").dataType()).isEqualTo(DataTypes.LongType);
        assertThat(t.rows().schema().apply("latents").dataType()).isEqualTo(DataTypes.BinaryType);
        assertThat(codes.metadata().getString(TokenTableSchema.FIELD_METADATA_KEY)).contains("\"codebook_sha256\"");
        t.verifyCounts();
        assertThat(t.rows().select("id", "variant").distinct().count()).isEqualTo(372);
        try (Stream<Path> s = Files.list(tmp)) {
            assertThat(s.map(p -> p.getFileName().toString()).toList()).containsExactly("tokens");
        }

        // codes equal in-process encoding; latents equal z_e within float16 precision
        List<TokenFixtures.View> views = TokenFixtures.views(TokenFixtures.emojiValidation(), 16,
                List.of(Variant.CENTER, Variant.HFLIP));
        List<Row> rows = t.rows().collectAsList();
        try (NDManager mgr = Engines.newManager()) {
            VaeCheckpoint.Loaded l = VaeCheckpoint.load(new LocalDir(ckpt), mgr);
            Map<String, long[]> want = TokenFixtures.encode(l.vae(), views, 16, 8);
            assertThat(rows).hasSize(want.size());
            Map<String, Long> labels = new HashMap<>();
            views.forEach(v -> labels.put(v.id(), v.label()));
            for (Row row : rows) {
                String key = row.getAs("id") + "/" + row.<Short>getAs("variant");
                long[] w = want.get(key);
                assertThat(w).as(key).isNotNull();
                int[] got = TokenTable.codes(row);
                assertThat(got).hasSize(256);
                for (int i = 0; i < got.length; i++) {
                    assertThat((long) got[i]).as(key + " code " + i).isEqualTo(w[i]);
                }
                assertThat(row.<Long>getAs("label")).isEqualTo(labels.get(row.<String>getAs("id")));
                assertThat(row.<String>getAs("source_shard")).isEqualTo("validation/validation-00000-of-00001.parquet");
            }
            // latents of the first view
            TokenFixtures.View v0 = views.get(0);
            Row r0 = rows.stream().filter(x -> x.getAs("id").equals(v0.id()) && x.<Short>getAs("variant") == 0)
                    .findFirst().orElseThrow();
            byte[] lat = r0.getAs("latents");
            assertThat(lat).hasSize(8 * 8 * 16 * 2);
            float[] ze = l.vae().encode(mgr.create(v0.x(), new Shape(1, 3, 16, 16)), false).toFloatArray();
            float[] f16 = mgr.create(ByteBuffer.wrap(lat).order(ByteOrder.LITTLE_ENDIAN), new Shape(lat.length / 2),
                    DataType.FLOAT16).toType(DataType.FLOAT32, false).toFloatArray();
            for (int i = 0; i < ze.length; i++) {
                assertThat(f16[i]).isCloseTo(ze[i], org.assertj.core.data.Offset.offset(2e-3f + Math.abs(ze[i]) * 1e-3f));
            }
        }
        assertThat(r.summary()).contains("validation");
    }

    @Test
    void rerunReplacesTheTableAtomically() throws Exception {
        String out = tmp.resolve("tokens").toString();
        TokenizeJob.run(spark, options(out, List.of(Variant.CENTER, Variant.HFLIP), false));
        List<Row> first = TokenTable.read(spark, out).rows().filter("variant = 0").orderBy("id")
                .select("id", "codes").collectAsList();
        TokenizeJob.run(spark, options(out, List.of(Variant.CENTER), false));
        TokenTable t = TokenTable.read(spark, out);
        assertThat(t.manifest().splits().get("validation").rows()).isEqualTo(186);
        assertThat(t.manifest().variants()).containsOnlyKeys("0");
        assertThat(t.rows().count()).isEqualTo(186);
        assertThat(t.rows().orderBy("id").select("id", "codes").collectAsList()).isEqualTo(first);
        try (Stream<Path> s = Files.list(tmp)) {
            assertThat(s.map(p -> p.getFileName().toString()).toList()).containsExactly("tokens");
        }
        // a non-table folder is never replaced
        Path foreign = Files.createDirectories(tmp.resolve("foreign"));
        Files.writeString(foreign.resolve("keep.txt"), "x");
        assertThatThrownBy(() -> TokenizeJob.run(spark, options(foreign.toString(), List.of(Variant.CENTER), false)))
                .hasMessageContaining("not a token table");
        assertThat(foreign.resolve("keep.txt")).exists();
    }

    @Test
    void retriedTaskLeavesNoDuplicates() throws Exception {
        String out = tmp.resolve("tokens").toString();
        int failedBefore = FAILED_TASKS.get();
        spark.conf().set(TokenizeJob.TEST_FAIL_PARTITION, "1");
        try {
            TokenizeJob.run(spark, options(out, List.of(Variant.CENTER, Variant.HFLIP), false));
        } finally {
            spark.conf().unset(TokenizeJob.TEST_FAIL_PARTITION);
        }
        assertThat(FAILED_TASKS.get() - failedBefore).as("the injected failure happened").isGreaterThanOrEqualTo(1);
        TokenTable t = TokenTable.read(spark, out);
        assertThat(t.rows().count()).isEqualTo(372);
        assertThat(t.rows().select("source_row", "variant").distinct().count()).isEqualTo(372);
    }

    @Test
    void readerRequiresTheManifest() throws Exception {
        String out = tmp.resolve("tokens").toString();
        TokenizeJob.run(spark, new TokenizeJob.Options(ckpt.toString(), TokenFixtures.emojiValidation(), out,
                List.of(Variant.CENTER), 16, List.of(), false, 0, 0));
        TokenTable t = TokenTable.read(spark, out);
        assertThat(t.splits()).containsExactly("validation");
        long rows = t.rows().count();
        // the reader takes exactly the manifest's files: a stray file (e.g. of a failed write) is ignored
        TokenManifest m = t.manifest();
        assertThat(m.files()).isNotEmpty().allSatisfy(f -> assertThat(f.split()).isEqualTo("validation"));
        assertThat(m.files().stream().mapToLong(TokenManifest.DataFile::rows).sum()).isEqualTo(rows);
        Path listed = Path.of(out).resolve(m.files().get(0).path());
        Files.copy(listed, listed.resolveSibling("part-99999-stray.zstd.parquet"));
        assertThat(TokenTable.read(spark, out).rows().count()).isEqualTo(rows);
        // a listed file that is missing makes the table incomplete, named in the error
        Files.move(listed, listed.resolveSibling("moved.bin"));
        assertThatThrownBy(() -> TokenTable.read(spark, out)).hasMessageContaining("is incomplete")
                .hasMessageContaining(m.files().get(0).path());
        Files.delete(Path.of(out, "_tokens_manifest.json"));
        assertThatThrownBy(() -> TokenTable.read(spark, out)).hasMessageContaining("_tokens_manifest.json");
    }
}
