import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.model.checkpoint.LocalDir;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.NoGrad;
import dev.rq.model.engine.Precision;
import dev.rq.model.nn.Tensors;
import dev.rq.model.vae.RqVae;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.report.ImageGrid;
import dev.rq.tables.Variant;
import dev.rq.data.image.Views;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import org.apache.hadoop.conf.Configuration;

/**
 * Where do a stage-1 checkpoint's greens go? For the N validation images with the most green pixels (G above
 * both R and B by 0.1 in [0, 1]), one JVM, no Spark, bf16 as the quickstart: the original, the decoder applied
 * to the UNQUANTIZED encoder output z_e, and the decoder applied to the quantized z_q (what tokens give), one
 * row each, into OUT.png; per image the PSNR of both decodes, the mean green excess G − max(R, B) over the
 * original's green pixels in the original and both decodes, the relative quantization error ‖z_e − z_q‖² / ‖z_e‖²
 * on the green pixels' latents against the others, and the distinct depth-0 codes used. If decode(z_e) is green
 * and decode(z_q) is not, the greens are lost in the codebook; if neither is, in the encoder/decoder. Also the
 * mean PSNR of the codes' decodes over every image of the split (a screen; the quickstart's own figure is eval.json),
 * and the split's colour variance along the luminance, yellow–blue and green–magenta opponent axes.
 * docs/quickstart-history.md "Session 15". After `bin/rq --help`, from the repository root:
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true -Xmx3g \
 *     -cp "spark-jobs/target/classes:rq-model/target/classes:$(cat spark-jobs/target/classpath.txt)" \
 *     scripts/S1GreenProbe.java VAE_CKPT data/emoji/validation OUT.png [N=8]
 */
public class S1GreenProbe {
    public static void main(String[] a) throws Exception {
        Path ckpt = Path.of(a[0]);
        String split = Path.of(a[1]).toAbsolutePath().toUri().toString();
        Path out = Path.of(a[2]);
        int n = a.length > 3 ? Integer.parseInt(a[3]) : 8;
        CanonicalDataset ds = CanonicalDataset.open(split, new Configuration());
        int res = 64;
        Views views = new Views(res);
        int len = views.tensorLength();
        int hw = res * res;
        List<float[]> all = new ArrayList<>();
        for (int s = 0; s < ds.numShards(); s++) {
            for (int g = 0; g < ds.numRowGroups(s); g++) {
                CanonicalDataset.RowGroup rg = ds.readRowGroup(s, g);
                for (byte[] b : rg.bytes()) {
                    float[] x = new float[len];
                    views.write(b, List.of(Variant.CENTER), x, 0);
                    all.add(x);
                }
            }
        }
        colourStats(all, hw);
        Integer[] order = new Integer[all.size()];
        double[] greenFrac = new double[all.size()];
        for (int i = 0; i < all.size(); i++) {
            order[i] = i;
            boolean[] m = greenMask(all.get(i), hw);
            int c = 0;
            for (boolean v : m) {
                c += v ? 1 : 0;
            }
            greenFrac[i] = c / (double) hw;
        }
        Arrays.sort(order, Comparator.comparingDouble(i -> -greenFrac[i]));
        Engines.pytorch(1);
        float[] grid = new float[3 * n * len];
        try (NDManager m = Engines.newManager(); NoGrad ng = NoGrad.enter(); NDScope scope = new NDScope()) {
            RqVae vae = VaeCheckpoint.load(new LocalDir(ckpt), m).vae();
            vae.setPrecision(Precision.BF16);
            float[] x = new float[n * len];
            for (int i = 0; i < n; i++) {
                System.arraycopy(all.get(order[i]), 0, x, i * len, len);
            }
            NDArray xs = Tensors.of(m, x, new Shape(n, 3, res, res));
            NDArray ze = vae.encode(xs, false); // [n, h, w, C]
            NDArray codes = vae.quantizer().codes(ze); // [n, h, w, D]
            NDArray zq = vae.quantizer().embedCode(codes); // [n, h, w, C]
            float[] dz = ze.toFloatArray();
            float[] dq = zq.toFloatArray();
            long[] cd = codes.toLongArray();
            float[] rz = vae.decode(ze, false).clip(-1f, 1f).toFloatArray();
            float[] rq = vae.decode(zq, false).clip(-1f, 1f).toFloatArray();
            int h = (int) ze.getShape().get(1);
            int c = (int) ze.getShape().get(3);
            int depth = (int) codes.getShape().get(3);
            int f = res / h;
            double[] sums = new double[6];
            for (int i = 0; i < n; i++) {
                float[] o = Arrays.copyOfRange(x, i * len, (i + 1) * len);
                float[] dzi = Arrays.copyOfRange(rz, i * len, (i + 1) * len);
                float[] dqi = Arrays.copyOfRange(rq, i * len, (i + 1) * len);
                boolean[] gm = greenMask(o, hw);
                // latent positions whose f x f patch is mostly green
                double eg = 0, ng2 = 0, eo = 0, no = 0;
                java.util.Set<Long> used = new java.util.TreeSet<>();
                for (int p = 0; p < h * h; p++) {
                    int py = p / h, px = p % h, cnt = 0;
                    for (int dy = 0; dy < f; dy++) {
                        for (int dx = 0; dx < f; dx++) {
                            cnt += gm[(py * f + dy) * res + px * f + dx] ? 1 : 0;
                        }
                    }
                    double err = 0, nz = 0;
                    for (int k = 0; k < c; k++) {
                        double a1 = dz[(i * h * h + p) * c + k], b1 = dq[(i * h * h + p) * c + k];
                        err += (a1 - b1) * (a1 - b1);
                        nz += a1 * a1;
                    }
                    if (cnt * 2 > f * f) {
                        eg += err;
                        ng2 += nz;
                        used.add(cd[(i * h * h + p) * depth]);
                    } else {
                        eo += err;
                        no += nz;
                    }
                }
                double[] v = {psnr(o, dzi), psnr(o, dqi), greenExcess(o, gm, hw), greenExcess(dzi, gm, hw),
                        greenExcess(dqi, gm, hw), eg / Math.max(ng2, 1e-12)};
                for (int k = 0; k < v.length; k++) {
                    sums[k] += v[k] / n;
                }
                System.out.printf(Locale.ROOT, "image %3d (green %.2f): PSNR decode(z_e) %.2f, decode(z_q) %.2f dB;"
                        + " green excess orig %.3f, z_e %.3f, z_q %.3f; quant err green %.3f other %.3f;"
                        + " depth-0 codes on green %d%n", order[i], greenFrac[order[i]], v[0], v[1], v[2], v[3], v[4],
                        v[5], eo / Math.max(no, 1e-12), used.size());
                System.arraycopy(o, 0, grid, i * len, len);
                System.arraycopy(dzi, 0, grid, (n + i) * len, len);
                System.arraycopy(dqi, 0, grid, (2 * n + i) * len, len);
            }
            double all2 = 0;
            for (int s0 = 0; s0 < all.size(); s0 += 32) {
                int b = Math.min(32, all.size() - s0);
                float[] xb = new float[b * len];
                for (int i = 0; i < b; i++) {
                    System.arraycopy(all.get(s0 + i), 0, xb, i * len, len);
                }
                try (NDScope inner = new NDScope()) {
                    NDArray xt = Tensors.of(m, xb, new Shape(b, 3, res, res));
                    float[] r = vae.decodeCodes(vae.codes(xt)).clip(-1f, 1f).toFloatArray();
                    for (int i = 0; i < b; i++) {
                        all2 += psnr(all.get(s0 + i), Arrays.copyOfRange(r, i * len, (i + 1) * len));
                    }
                }
            }
            System.out.printf(Locale.ROOT, "validation PSNR (bf16, %d images, decode of the codes) %.2f dB%n", all.size(),
                    all2 / all.size());
            System.out.printf(Locale.ROOT, "mean: PSNR z_e %.2f z_q %.2f dB; green excess orig %.3f z_e %.3f z_q %.3f;"
                    + " quant err green %.3f%n", sums[0], sums[1], sums[2], sums[3], sums[4], sums[5]);
        }
        try (OutputStream os = Files.newOutputStream(out)) {
            ImageGrid.writePng(ImageGrid.grid(grid, 3 * n, 3, res, res, n, 2, 0xFFFFFF), os);
        }
    }

    /**
     * Prints the variance (pixel values in [0, 1], over every pixel of the split) along the orthonormal opponent
     * axes: luminance (R+G+B)/√3, yellow–blue (R−B)/√2 and green–magenta (2G−R−B)/√6.
     */
    static void colourStats(List<float[]> all, int hw) {
        double[][] axes = {{1 / Math.sqrt(3), 1 / Math.sqrt(3), 1 / Math.sqrt(3)},
                {1 / Math.sqrt(2), 0, -1 / Math.sqrt(2)}, {-1 / Math.sqrt(6), 2 / Math.sqrt(6), -1 / Math.sqrt(6)}};
        double[] s1 = new double[3], s2 = new double[3];
        long n = 0;
        for (float[] x : all) {
            for (int p = 0; p < hw; p++) {
                for (int k = 0; k < 3; k++) {
                    double v = 0;
                    for (int c = 0; c < 3; c++) {
                        v += axes[k][c] * (x[c * hw + p] + 1) / 2;
                    }
                    s1[k] += v;
                    s2[k] += v * v;
                }
                n++;
            }
        }
        String[] names = {"luminance", "yellow-blue", "green-magenta"};
        for (int k = 0; k < 3; k++) {
            double m = s1[k] / n;
            System.out.printf(Locale.ROOT, "colour variance along %s: %.4f%n", names[k], s2[k] / n - m * m);
        }
    }

    /** Pixels whose G exceeds both R and B by 0.1 (in [0, 1]); x in [-1, 1], [3, R, R]. */
    static boolean[] greenMask(float[] x, int hw) {
        boolean[] m = new boolean[hw];
        for (int p = 0; p < hw; p++) {
            float r = x[p], g = x[hw + p], b = x[2 * hw + p];
            m[p] = (g - r) / 2 > 0.1f && (g - b) / 2 > 0.1f;
        }
        return m;
    }

    /** Mean of G − max(R, B) (in [0, 1]) over the mask's pixels. */
    static double greenExcess(float[] x, boolean[] m, int hw) {
        double s = 0;
        int c = 0;
        for (int p = 0; p < hw; p++) {
            if (m[p]) {
                s += (x[hw + p] - Math.max(x[p], x[2 * hw + p])) / 2;
                c++;
            }
        }
        return c == 0 ? 0 : s / c;
    }

    static double psnr(float[] o, float[] r) {
        double mse = 0;
        for (int i = 0; i < o.length; i++) {
            double d = (o[i] - r[i]) / 2;
            mse += d * d;
        }
        return 10 * Math.log10(1 / (mse / o.length));
    }
}
