import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.io.HadoopDir;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.metrics.Psnr;
import dev.rq.model.vae.RqVae;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.tables.Variant;
import dev.rq.data.image.Views;
import java.util.List;
import org.apache.hadoop.conf.Configuration;

/**
 * The in-process part of scripts/bf16-guards.sh (issue 12, bf16 quality guards): one RQ-VAE checkpoint,
 * every image of one split (center view, the evaluation transform the tokenizer uses), encoded,
 * quantized and decoded once in fp32 and once in bf16 ({@link RqVae#setPrecision}). Prints one line
 * per precision ({@code PSNR <precision> mean median n}) and {@code CODES equal total fraction}: the
 * fraction of the [h, w, D] codes of the bf16 pass equal to those of the fp32 pass.
 *
 * <pre>java -cp CLASSPATH scripts/Bf16Guards.java CHECKPOINT_DIR SPLIT_DIR [BATCH]</pre>
 */
public class Bf16Guards {
    public static void main(String[] args) throws Exception {
        String ckpt = args[0];
        String split = args[1];
        int batch = args.length > 2 ? Integer.parseInt(args[2]) : 16;
        Configuration conf = new Configuration();
        Engines.pytorch(0);
        try (NDManager manager = Engines.newManager()) {
            VaeCheckpoint.Loaded l = VaeCheckpoint.load(new HadoopDir(ckpt, conf), manager);
            RqVae vae = l.vae();
            int res = vae.config().ddconfig().resolution();
            Views views = new Views(res);
            int len = views.tensorLength();
            List<CanonicalDataset.Sample> samples = CanonicalDataset.open(split, conf).readAll();
            int n = samples.size();
            float[] x = new float[n * len];
            for (int i = 0; i < n; i++) {
                views.write(samples.get(i).bytes(), List.of(Variant.CENTER), x, i * len);
            }
            long[][] codes = new long[2][];
            Precision[] ps = {Precision.FP32, Precision.BF16};
            for (int p = 0; p < ps.length; p++) {
                vae.setPrecision(ps[p]);
                double[] psnr = new double[n];
                long[] all = null;
                int per = -1;
                for (int s = 0; s < n; s += batch) {
                    int b = Math.min(batch, n - s);
                    try (NDManager sub = manager.newSubManager()) {
                        float[] xb = new float[b * len];
                        System.arraycopy(x, s * len, xb, 0, b * len);
                        NDArray c = vae.codes(sub.create(xb, new Shape(b, 3, res, res)));
                        long[] cb = c.toLongArray();
                        if (all == null) {
                            per = cb.length / b;
                            all = new long[n * per];
                        }
                        System.arraycopy(cb, 0, all, s * per, cb.length);
                        float[] r = vae.decodeCodes(c).toFloatArray();
                        for (int i = 0; i < b; i++) {
                            psnr[s + i] = Psnr.of(x, (s + i) * len, r, i * len, len);
                        }
                    }
                }
                codes[p] = all;
                double[] sorted = psnr.clone();
                java.util.Arrays.sort(sorted);
                double mean = java.util.Arrays.stream(psnr).average().orElse(Double.NaN);
                double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
                System.out.printf(java.util.Locale.ROOT, "PSNR %s %.4f %.4f %d%n", ps[p].id(), mean, median, n);
            }
            long equal = 0;
            for (int i = 0; i < codes[0].length; i++) {
                if (codes[0][i] == codes[1][i]) {
                    equal++;
                }
            }
            System.out.printf(java.util.Locale.ROOT, "CODES %d %d %.5f%n", equal, codes[0].length,
                    (double) equal / codes[0].length);
            vae.close();
        }
    }
}
