import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import dev.rq.model.checkpoint.LocalDir;
import dev.rq.model.config.SamplingConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.NoGrad;
import dev.rq.model.engine.Precision;
import dev.rq.model.sampling.RqSampler;
import dev.rq.model.transformer.TransformerCheckpoint;
import dev.rq.model.util.Rng;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.report.ImageGrid;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Sample grids of one stage-2 checkpoint under several sampling settings, in one JVM (no Spark): for each
 * setting and each class of CLASSES, N samples (seed SEED; sample i of class c draws from the generator
 * {@code rq sample} gives it, {@code RqSampler.rowGenerators(seed, c·2^32 + i, 1)}, so the checkpoint config's
 * own setting reproduces {@code rq sample}'s codes), decoded with the RQ-VAE, one grid row per (setting, class),
 * labelled. Settings: NAME=key:value,... over the checkpoint config's sampling section (NAME= alone: the config's
 * own); keys t (temperature), k (top-k, per depth with /, 0 = none), p (top-p, per depth with /), s (cfg_scale).
 * bf16, 1 libtorch thread; -Drq.grid.zoom=2 doubles the pixels; -Drq.grid.cols=8 wraps each row's N samples
 * into rows of 8; -Drq.grid.images=DIR also writes each sample as DIR/NAME-cCLASS/sSEED-III.png (scripts/FaceCount.java
 * counts discs and faces in such folders). docs/quickstart-history.md "Session 13". After
 * `bin/rq --help`, from the repository root (~10 s per 8 samples guided at load 10):
 *   java --add-opens=java.base/java.nio=ALL-UNNAMED -Dai.djl.offline=true \
 *     -cp "spark-jobs/target/classes:rq-model/target/classes:$(cat spark-jobs/target/classpath.txt)" \
 *     scripts/SampleSettingsGrid.java STAGE2_CKPT VAE_CKPT OUT.png 6,2 8 0 base= p.8=p:0.8 k32/8=k:32/8
 */
public class SampleSettingsGrid {
    public static void main(String[] a) throws Exception {
        Path ckpt = Path.of(a[0]);
        Path vaeCkpt = Path.of(a[1]);
        Path out = Path.of(a[2]);
        int[] classes = Arrays.stream(a[3].split(",")).mapToInt(Integer::parseInt).toArray();
        int n = Integer.parseInt(a[4]);
        long seed = Long.parseLong(a[5]);
        Engines.pytorch(1);
        try (NDManager tm = Engines.newManager(); NDManager vm = Engines.newManager();
                NoGrad ng = NoGrad.enter()) {
            var t = TransformerCheckpoint.load(new LocalDir(ckpt), tm);
            var v = VaeCheckpoint.load(new LocalDir(vaeCkpt), vm);
            t.model().setPrecision(Precision.BF16);
            v.vae().setPrecision(Precision.BF16);
            RqSampler sampler = new RqSampler(t.model(), v.vae());
            SamplingConfig base = t.config().sampling();
            int res = 0;
            List<BufferedImage> rows = new ArrayList<>();
            List<String> labels = new ArrayList<>();
            for (int i = 6; i < a.length; i++) {
                String name = a[i].substring(0, a[i].indexOf('='));
                SamplingConfig s = parse(base, a[i].substring(a[i].indexOf('=') + 1));
                for (int c : classes) {
                    long[] cond = new long[n];
                    Rng[] gens = new Rng[n];
                    for (int j = 0; j < n; j++) {
                        cond[j] = c;
                        gens[j] = RqSampler.rowGenerators(seed, ((long) c << 32) + j, 1)[0];
                    }
                    long t0 = System.nanoTime();
                    long[] codes = sampler.sample(cond, s, gens, true);
                    float[] img;
                    try (NDManager sub = vm.newSubManager(); NDScope scope = new NDScope()) {
                        var x = v.vae().decodeCodes(sampler.toTensor(sub, codes));
                        res = (int) x.getShape().get(2);
                        img = x.toFloatArray();
                    }
                    rows.add(ImageGrid.grid(img, n, 3, res, res, Integer.getInteger("rq.grid.cols", n), 2, 0xFFFFFF));
                    String dir = System.getProperty("rq.grid.images"); // one PNG per sample, e.g. for FaceCount.java
                    if (dir != null) {
                        Path d = Files.createDirectories(Path.of(dir, name + "-c" + c));
                        int px = 3 * res * res;
                        for (int j = 0; j < n; j++) {
                            float[] one = Arrays.copyOfRange(img, j * px, (j + 1) * px);
                            try (OutputStream o = Files.newOutputStream(d.resolve(String.format("s%d-%03d.png", seed, j)))) {
                                ImageGrid.writePng(ImageGrid.grid(one, 1, 3, res, res, 1, 0, 0xFFFFFF), o);
                            }
                        }
                    }
                    labels.add(name + " c" + c);
                    System.out.printf("%s class %d: %d samples in %.1f s (%s)%n", name, c, n,
                            (System.nanoTime() - t0) / 1e9, s);
                }
            }
            int lw = 170;
            int z = Integer.getInteger("rq.grid.zoom", 1); // -Drq.grid.zoom=2: pixels doubled, for reading faces
            int w = lw + z * rows.get(0).getWidth();
            int h = z * rows.stream().mapToInt(BufferedImage::getHeight).sum();
            BufferedImage all = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = all.createGraphics();
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, w, h);
            g.setColor(Color.BLACK);
            int y = 0;
            for (int i = 0; i < rows.size(); i++) {
                BufferedImage r = rows.get(i);
                g.drawImage(r, lw, y, z * r.getWidth(), z * r.getHeight(), null);
                g.drawString(labels.get(i), 4, y + z * r.getHeight() / 2);
                y += z * r.getHeight();
            }
            g.dispose();
            try (OutputStream o = Files.newOutputStream(out)) {
                ImageGrid.writePng(all, o);
            }
        }
    }

    private static SamplingConfig parse(SamplingConfig b, String spec) {
        Double t = b.temperature();
        List<Integer> k = b.topK();
        List<Double> p = b.topP();
        Double s = b.cfgScale();
        for (String kv : spec.isEmpty() ? new String[0] : spec.split(",")) {
            String key = kv.substring(0, kv.indexOf(':'));
            String val = kv.substring(kv.indexOf(':') + 1);
            switch (key) {
                case "t" -> t = Double.parseDouble(val);
                case "k" -> k = val.equals("0") ? null : Arrays.stream(val.split("/")).map(Integer::valueOf).toList();
                case "p" -> p = Arrays.stream(val.split("/")).map(Double::valueOf).toList();
                case "s" -> s = Double.parseDouble(val);
                default -> throw new IllegalArgumentException("unknown key " + key);
            }
        }
        return new SamplingConfig(t, k, p, b.batchSize(), s);
    }
}
