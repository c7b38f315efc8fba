package dev.rq.jobs.sid;

import dev.rq.model.sid.SyntheticItems;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/** Item tables for the semantic-ID tests. */
public final class SidFixtures {

    private SidFixtures() {}

    /** item_id long, embedding array&lt;float&gt;, label long. */
    public static final StructType SCHEMA = DataTypes.createStructType(List.of(
            DataTypes.createStructField("item_id", DataTypes.LongType, true),
            DataTypes.createStructField("embedding", DataTypes.createArrayType(DataTypes.FloatType, true), true),
            DataTypes.createStructField("label", DataTypes.LongType, true)));

    /** @return rows of items [from, from + n) of a synthetic mixture (ids = index + idOffset) */
    public static List<Row> items(SyntheticItems gen, long from, int n, long idOffset) {
        List<Row> rows = new ArrayList<>();
        for (long i = from; i < from + n; i++) {
            float[] e = new float[gen.dim()];
            gen.embedding(i, e, 0);
            rows.add(RowFactory.create(i + idOffset, boxed(e), (long) gen.label(i)));
        }
        return rows;
    }

    public static List<Float> boxed(float[] e) {
        List<Float> l = new ArrayList<>(e.length);
        for (float v : e) {
            l.add(v);
        }
        return l;
    }

    /** Writes rows as a Parquet item table in {@code partitions} files. */
    public static void write(SparkSession spark, List<Row> rows, String uri, int partitions) {
        spark.createDataFrame(rows, SCHEMA).repartition(partitions).write().mode(SaveMode.Overwrite).parquet(uri);
    }

    /** The six rows every check rejects (ids 900000…900005). */
    public static List<Row> badRows(int dim) {
        List<Row> bad = new ArrayList<>();
        float[] ok = new float[dim];
        bad.add(RowFactory.create(null, boxed(ok), 0L)); // null id
        bad.add(RowFactory.create(900001L, null, 0L)); // null embedding
        bad.add(RowFactory.create(900002L, boxed(new float[dim - 1]), 0L)); // wrong length
        float[] nan = ok.clone();
        nan[3] = Float.NaN;
        bad.add(RowFactory.create(900003L, boxed(nan), 0L));
        float[] inf = ok.clone();
        inf[0] = Float.NEGATIVE_INFINITY;
        bad.add(RowFactory.create(900004L, boxed(inf), 0L));
        List<Float> withNull = boxed(ok);
        withNull.set(1, null);
        bad.add(RowFactory.create(900005L, withNull, 0L));
        return bad;
    }
}
