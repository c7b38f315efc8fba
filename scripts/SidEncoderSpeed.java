import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import dev.rq.io.HadoopDir;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.NoGrad;
import dev.rq.model.engine.Precision;
import dev.rq.model.nn.Tensors;
import dev.rq.model.sid.SidCheckpoint;
import dev.rq.model.sid.SidModel;
import java.lang.management.ManagementFactory;
import java.util.Locale;

/**
 * Speed of an RQ-VAE semantic-ID checkpoint's codes on one batch, as {@code rq assign-sid}'s encode
 * task calls them (eval, no grad, bf16 casts held for the call): the encoder alone and the encoder
 * plus the levels' search ({@code SidModel.codes}; levels = the difference), fp32 and bf16, the levels
 * searched 1,024 rows at a time ({@code chunks}) and over the whole batch ({@code whole}, {@code
 * -Drq.sid.level_chunks=false}), alternating, in CPU time of the calling thread per item at THREADS = 1 (wall time otherwise), and
 * the encoder's GFLOP/s for the TIGER widths 768-512-256-128-32 (2 · Σ in·out FLOP per item).
 *
 * <pre>
 * java ... scripts/SidEncoderSpeed.java CKPT [BATCH=4096] [THREADS=1] [ROUNDS=3]
 * </pre>
 */
public class SidEncoderSpeed {
    static long cpu() {
        return ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
    }

    public static void main(String[] a) throws Exception {
        int batch = a.length > 1 ? Integer.parseInt(a[1]) : 4096;
        int threads = a.length > 2 ? Integer.parseInt(a[2]) : 1;
        int rounds = a.length > 3 ? Integer.parseInt(a[3]) : 3;
        Engines.pytorch(threads);
        NDManager m = Engines.newManager();
        SidModel s = (SidModel) SidCheckpoint.load(new HadoopDir(a[0], new org.apache.hadoop.conf.Configuration()), m)
                .coder();
        int dim = s.inputDim();
        float[] x = new float[batch * dim];
        java.util.Random r = new java.util.Random(1);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian() * 0.05f;
        }
        double flop = 2.0 * (768 * 512 + 512 * 256 + 256 * 128 + 128 * 32);
        for (int round = 0; round < rounds; round++) {
            for (String variant : new String[] {"fp32 chunks", "fp32 whole", "bf16 chunks", "bf16 whole"}) {
                String prec = variant.substring(0, 4);
                System.setProperty(SidModel.LEVEL_CHUNKS, Boolean.toString(variant.endsWith("chunks")));
                s.setPrecision(Precision.parse(prec));
                long enc = 0;
                long all = 0;
                int reps = 10;
                for (int k = 0; k < reps + 2; k++) {
                    try (NoGrad ng = NoGrad.enter(); NDManager sub = m.newSubManager(); NDScope sc = new NDScope();
                            AutoCloseable fr = s.params().freeze()) {
                        NDArray in = Tensors.of(sub, x, new Shape(batch, dim));
                        long w = System.nanoTime();
                        long c = cpu();
                        s.encode(in).toFloatArray();
                        long e = threads == 1 ? cpu() - c : System.nanoTime() - w;
                        w = System.nanoTime();
                        c = cpu();
                        s.codes(in).toLongArray();
                        long al = threads == 1 ? cpu() - c : System.nanoTime() - w;
                        if (k >= 2) { // after warm-up
                            enc += e;
                            all += al;
                        }
                    }
                }
                double encUs = enc / 1e3 / reps / batch;
                double allUs = all / 1e3 / reps / batch;
                System.out.printf(Locale.ROOT, "round %d %-11s batch %d, %d thread(s): encoder %.2f us/item (%.0f GFLOP/s),"
                        + " codes %.2f us/item, levels %.2f; load %.1f%n", round, variant, batch, threads, encUs,
                        flop / encUs / 1e3, allUs, allUs - encUs,
                        ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
            }
        }
    }
}
