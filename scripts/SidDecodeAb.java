import dev.rq.data.items.InternalRows;
import dev.rq.data.items.ItemInput;
import dev.rq.data.items.ParquetItems;
import dev.rq.model.config.SidDataConfig;
import java.lang.management.ManagementFactory;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.functions;

/**
 * In-process A/B of reading one item-table file (id + 768-float embedding) into encode batches, in
 * CPU time of the reading thread per item: the fast Parquet reader ({@code ParquetItems}, read on
 * the calling thread) against Spark's reader with the SQL id/length checks (today's fallback, read
 * in {@code local[1]}'s task thread, timed inside the task), each row's floats copied and checked
 * into a batch ({@code InternalRows.copyChecked}) in both; alternating, ROUNDS rounds (the first
 * warms the JIT up). Also prints whether both read the same rows (count, id sum, float checksum).
 *
 * <pre>
 * javac -d /tmp/sid-decode-ab -cp CP scripts/SidDecodeAb.java   (compiled: Spark tasks cannot load a source-launched class)
 * java ... -cp /tmp/sid-decode-ab:CP SidDecodeAb FILE.parquet [ROUNDS=4] [DIM=768]
 * </pre>
 */
public class SidDecodeAb {
    static long cpu() {
        return ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
    }

    /** @return {rows, float checksum, id sum, thread CPU ns} */
    static double[] consume(Iterator<InternalRow> it, int dim) {
        long t0 = cpu();
        float[] x = new float[4096 * dim];
        int n = 0;
        long rows = 0;
        double s = 0;
        double ids = 0;
        while (it.hasNext()) {
            InternalRow r = it.next();
            rows++;
            if (!r.isNullAt(2) || InternalRows.copyChecked(r.getArray(1), dim, false, x, n * dim) != null) {
                continue;
            }
            ids += r.getLong(0);
            s += x[n * dim] + x[n * dim + dim - 1];
            n = n + 1 == 4096 ? 0 : n + 1;
        }
        return new double[] {rows, s, ids, cpu() - t0};
    }

    /** Spark's side, timed in its task thread. */
    static final class InTask implements FlatMapFunction<Iterator<InternalRow>, double[]> {
        final int dim;

        InTask(int dim) {
            this.dim = dim;
        }

        @Override
        public Iterator<double[]> call(Iterator<InternalRow> it) {
            return List.of(consume(it, dim)).iterator();
        }
    }

    public static void main(String[] a) throws Exception {
        String f = a[0];
        int rounds = a.length > 1 ? Integer.parseInt(a[1]) : 4;
        int dim = a.length > 2 ? Integer.parseInt(a[2]) : 768;
        SparkSession spark = SparkSession.builder().master("local[1]").config("spark.ui.enabled", "false")
                .getOrCreate();
        spark.sparkContext().setLogLevel("ERROR");
        ItemInput in = ItemInput.open(spark, f, new SidDataConfig("item_id", "embedding", ""), dim);
        var conf = spark.sparkContext().hadoopConfiguration();
        org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(f);
        long len = p.getFileSystem(conf).getFileStatus(p).getLen();
        ParquetItems fast = new ParquetItems("item_id", "embedding", "", in.idType(), null, dim);
        var checked = in.checked(false).select(functions.col("item_id"), functions.col("embedding"),
                functions.col(ItemInput.REASON), functions.col(ItemInput.DETAIL), functions.input_file_name());
        for (int r = 0; r < rounds; r++) {
            double[] q = consume(fast.read(new ParquetItems.Split(f, f, 0, len), conf), dim);
            double[] s = new double[4];
            for (double[] part : checked.queryExecution().toRdd().toJavaRDD().mapPartitions(new InTask(dim)).collect()) {
                for (int k = 0; k < 4; k++) {
                    s[k] += part[k];
                }
            }
            System.out.printf(Locale.ROOT, "round %d: fast %.2f us/item, spark %.2f us/item (thread CPU); rows %.0f/%.0f,"
                    + " same ids %b, same floats %b; load %.1f%n", r, q[3] / 1e3 / q[0], s[3] / 1e3 / s[0], q[0], s[0],
                    q[2] == s[2], q[1] == s[1], ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        }
        spark.stop();
    }
}
