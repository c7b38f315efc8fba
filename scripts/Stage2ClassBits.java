import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.rq.model.checkpoint.LocalDir;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.NoGrad;
import dev.rq.model.engine.Precision;
import dev.rq.model.nn.Tensors;
import dev.rq.model.transformer.Losses;
import dev.rq.model.transformer.TransformerCheckpoint;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.tables.TokenBlock;
import dev.rq.tables.TokenSplit;
import java.util.List;
import org.apache.hadoop.conf.Configuration;

/**
 * Where a stage-2 checkpoint's bits go: bits per code per depth and per class, on the first N rows of each split of a
 * token table (the held-out pass of {@code TransformerStage}: eval, hard targets, conditioned on the true class, bf16
 * unless -Drq.precision=fp32), so that training and held-out bits of the same weights can be compared (under- vs
 * over-fitting) and the classes ranked. docs/quickstart-history.md "Session 14". After `bin/rq --help`, from the repository
 * root (about 1 minute for 1,720 + 186 rows at 1 thread, load 8):
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true \
 *     -cp "spark-jobs/target/classes:rq-model/target/classes:$(cat spark-jobs/target/classpath.txt)" \
 *     scripts/Stage2ClassBits.java STAGE2_CKPT VAE_CKPT TOKENS [ROWS_PER_SPLIT] [SPLITS]
 * (ROWS_PER_SPLIT default all; SPLITS default train,validation.) Prints one line per (split, class) and a total.
 */
public class Stage2ClassBits {
    public static void main(String[] a) throws Exception {
        int limit = a.length > 3 ? Integer.parseInt(a[3]) : Integer.MAX_VALUE;
        List<String> splits = List.of((a.length > 4 ? a[4] : "train,validation").split(","));
        Engines.pytorch(1);
        Configuration conf = new Configuration();
        try (NDManager tm = Engines.newManager(); NDManager vm = Engines.newManager(); NoGrad ng = NoGrad.enter()) {
            var t = TransformerCheckpoint.load(new LocalDir(java.nio.file.Path.of(a[0])), tm);
            var v = VaeCheckpoint.load(new LocalDir(java.nio.file.Path.of(a[1])), vm);
            Precision p = "fp32".equals(System.getProperty("rq.precision")) ? Precision.FP32 : Precision.BF16;
            t.model().setPrecision(p);
            v.vae().setPrecision(p);
            int[] shape = t.config().model().blockSize().stream().mapToInt(Integer::intValue).toArray();
            int depth = shape[2];
            int classes = t.config().model().vocabSizeCond();
            System.out.printf("%-10s %-6s %5s %s%n", "split", "class", "rows", "bits/code per depth, mean");
            for (String split : splits) {
                TokenSplit ts = TokenSplit.open(a[2], split, conf);
                int n = (int) Math.min(limit, ts.numRows());
                TokenBlock rows = ts.head(n);
                int per = rows.codesPerRow();
                double[][] nll = new double[classes][depth];
                int[] count = new int[classes];
                long t0 = System.nanoTime();
                for (int s = 0; s < n; s += 16) {
                    int b = Math.min(16, n - s);
                    try (NDManager m = tm.newSubManager()) {
                        long[] codes = new long[b * per];
                        long[] labels = new long[b];
                        for (int i = 0; i < b; i++) {
                            for (int j = 0; j < per; j++) {
                                codes[i * per + j] = rows.codes()[(s + i) * per + j];
                            }
                            labels[i] = Math.max(0, rows.labels()[s + i]);
                        }
                        NDArray c = Tensors.of(m, codes).reshape(b, shape[0], shape[1], depth);
                        NDArray logits = t.model().forward(v.vae(), c, Tensors.of(m, labels), null).logits();
                        float[] perRowDepth = Losses.nll(logits, c).sum(new int[] {1, 2}).toType(
                                ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray(); // [b, D]
                        for (int i = 0; i < b; i++) {
                            int k = (int) labels[i];
                            count[k]++;
                            for (int d = 0; d < depth; d++) {
                                nll[k][d] += perRowDepth[i * depth + d];
                            }
                        }
                    }
                }
                double[] all = new double[depth];
                int total = 0;
                for (int k = 0; k < classes; k++) {
                    if (count[k] > 0) {
                        print(split, String.valueOf(k), count[k], nll[k], shape);
                        for (int d = 0; d < depth; d++) {
                            all[d] += nll[k][d];
                        }
                        total += count[k];
                    }
                }
                print(split, "all", total, all, shape);
                System.out.printf("  (%s: %d rows in %.1f s)%n", split, total, (System.nanoTime() - t0) / 1e9);
            }
        }
    }

    private static void print(String split, String cls, int rows, double[] nll, int[] shape) {
        StringBuilder sb = new StringBuilder();
        double mean = 0;
        for (double x : nll) {
            double bits = x / ((double) rows * shape[0] * shape[1]) / Math.log(2);
            sb.append(String.format("%.3f / ", bits));
            mean += bits / nll.length;
        }
        System.out.printf("%-10s %-6s %5d %s%.3f%n", split, cls, rows, sb, mean);
    }
}
