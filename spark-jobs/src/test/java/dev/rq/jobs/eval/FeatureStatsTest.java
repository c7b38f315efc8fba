package dev.rq.jobs.eval;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rq.model.metrics.InceptionScore;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@link FeatureStats} on a real local[2] session. */
class FeatureStatsTest {
    private static SparkSession spark;

    @BeforeAll
    static void start() {
        spark = SparkSession.builder().master("local[2]").appName("FeatureStatsTest")
                .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1").config("spark.sql.shuffle.partitions", "3")
                .getOrCreate();
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    /**
     * Parts streamed through the sort (several parts a partition, rows arriving shuffled over 7
     * partitions, rows without logits skipped) give exactly the in-order score.
     */
    @Test
    void inceptionScoreStreamedPerPartIsTheInOrderScore() {
        int n = 1003;
        int classes = 1008;
        Random rnd = new Random(11);
        float[][] logits = new float[n][classes];
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ByteBuffer b = ByteBuffer.allocate(4 * classes).order(ByteOrder.LITTLE_ENDIAN);
            for (int k = 0; k < classes; k++) {
                logits[i][k] = (float) (rnd.nextGaussian() * 3);
                b.putFloat(logits[i][k]);
            }
            rows.add(RowFactory.create((long) i, b.array()));
        }
        rows.add(RowFactory.create((long) n, null)); // a row without logits (not counted)
        Collections.shuffle(rows, rnd);
        StructType schema = new StructType().add(EvalTable.INDEX, DataTypes.LongType, false)
                .add(EvalTable.LOGITS, DataTypes.BinaryType, true);
        Dataset<Row> table = spark.createDataFrame(rows, schema).repartition(7);
        assertThat(EvalTable.floats((byte[]) rows.stream().filter(r -> r.get(1) != null).findFirst().get().get(1)))
                .hasSize(classes);
        for (int splits : new int[] {10, 1, 4}) {
            InceptionScore.Result expected = InceptionScore.of(logits, splits);
            InceptionScore.Result got = FeatureStats.inceptionScore(table, n, splits);
            assertThat(got.parts()).isEqualTo(splits);
            assertThat(got.mean()).as(splits + " splits").isEqualTo(expected.mean());
            if (splits > 1) {
                assertThat(got.std()).isEqualTo(expected.std());
            }
        }
    }
}
