package dev.rq.tables;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import dev.rq.executor.ExecutorModels;
import dev.rq.jobs.tokenize.TokenFixtures;
import dev.rq.jobs.tokenize.TokenizeJob;

import dev.rq.model.checkpoint.LocalDir;
import dev.rq.model.engine.Engines;
import dev.rq.model.vae.VaeCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The reading API on a table written by the job. */
class TokenTableTest {
    private static SparkSession spark;
    private static Path ckpt;
    private static String table;

    @TempDir static Path shared;

    @BeforeAll
    static void setUp() throws Exception {
        spark = TokenFixtures.spark("TokenTableTest");
        ckpt = TokenFixtures.tinyCheckpoint(shared.resolve("ckpt"), 31);
        table = shared.resolve("tokens").toString();
        TokenizeJob.run(spark, new TokenizeJob.Options(ckpt.toString(), TokenFixtures.emojiValidation(), table,
                List.of(Variant.HFLIP, Variant.CENTER), 16, List.of(), false, 2, 0));
    }

    @AfterAll
    static void tearDown() {
        spark.stop();
        ExecutorModels.clear();
    }

    @Test
    void typedRowsHaveTheShapeCountsAndInProcessCodes() throws Exception {
        TokenTable t = TokenTable.read(spark, table);
        assertThat(t.codeShape()).containsExactly(8, 8, 4);
        assertThat(t.splits()).containsExactly("validation");
        t.verifyCounts();
        List<TokenRow> rows = t.typed().collectAsList();
        assertThat(rows).hasSize(2 * 186);
        assertThat(t.typed().filter("variant = 1").count()).isEqualTo(186);
        List<TokenFixtures.View> views = TokenFixtures.views(TokenFixtures.emojiValidation(), 16,
                List.of(Variant.CENTER, Variant.HFLIP));
        try (NDManager m = Engines.newManager()) {
            Map<String, long[]> want = TokenFixtures.encode(VaeCheckpoint.load(new LocalDir(ckpt), m).vae(), views,
                    16, 16);
            for (TokenRow r : rows) {
                long[] w = want.get(r.getId() + "/" + r.getVariant());
                assertThat(r.getCodes()).hasSize(8 * 8 * 4);
                assertThat(r.getSplit()).isEqualTo("validation");
                assertThat(r.getLatents()).isNull();
                for (int h = 0; h < 8; h++) {
                    for (int x = 0; x < 8; x++) {
                        for (int d = 0; d < 4; d++) {
                            assertThat((long) r.code(h, x, d, 8, 4)).isEqualTo(w[(h * 8 + x) * 4 + d]);
                        }
                    }
                }
            }
        }
        assertThatThrownBy(() -> t.split("train")).hasMessageContaining("no split 'train'");
    }

    @Test
    void manifestVersionAndSchemaAreChecked() throws Exception {
        String json = Files.readString(Path.of(table, TokenTableSchema.MANIFEST_FILE));
        assertThat(TokenManifest.fromJson(json).codesLength()).isEqualTo(256);
        assertThatThrownBy(() -> TokenManifest.fromJson(json.replace("\"format_version\" : 1", "\"format_version\" : 2")))
                .hasMessageContaining("version 2");
        assertThatThrownBy(() -> TokenManifest.fromJson(json.replace("rq-token-table", "other")))
                .hasMessageContaining("not a token table");
        assertThatThrownBy(() -> TokenTableSchema.check(
                TokenTableSchema.schema(TokenTableSchema.CodeType.INT32, false, null),
                TokenTableSchema.CodeType.INT16, false)).hasMessageContaining("codes");
        assertThatThrownBy(() -> TokenTableSchema.check(
                TokenTableSchema.schema(TokenTableSchema.CodeType.INT16, false, null),
                TokenTableSchema.CodeType.INT16, true)).hasMessageContaining("latents");
        assertThat(TokenTableSchema.CodeType.forCodebookSize(32767)).isEqualTo(TokenTableSchema.CodeType.INT16);
        assertThat(TokenTableSchema.CodeType.forCodebookSize(32768).sparkType).isEqualTo(DataTypes.IntegerType);
        assertThat(Variant.parseList("center, 1")).containsExactly(Variant.CENTER, Variant.HFLIP);
        assertThatThrownBy(() -> Variant.parseList("center,center")).hasMessageContaining("twice");
        assertThatThrownBy(() -> Variant.parseList("rot90")).hasMessageContaining("unknown variant");
    }
}
