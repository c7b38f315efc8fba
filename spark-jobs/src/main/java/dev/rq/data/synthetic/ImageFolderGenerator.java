package dev.rq.data.synthetic;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferInt;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.MemoryCacheImageOutputStream;

/**
 * Writes an ImageNet-shaped ImageFolder: {@code classes} class folders ({@code n00000000} …) of
 * JPEGs of {@code size}² pixels, about 100 KB each at 256² (ImageNet's mean JPEG is about 110 KB),
 * with varied content: every class has its own palette, stripe orientation and frequency, every
 * image its own phase, a few random discs and rectangles and per-pixel noise (which sets the file
 * size). Deterministic: image {@code i} depends only on (seed, i). Image {@code i} goes to class
 * {@code i % classes}, file {@code img-<i>.JPEG}.
 *
 * <pre>
 * scripts/rq-java.sh dev.rq.data.synthetic.ImageFolderGenerator OUT IMAGES [CLASSES=1000] [SIZE=256] [THREADS=cores] [SEED=0]
 * </pre>
 */
public final class ImageFolderGenerator {

    private static final double NOISE_MIN = 30;
    private static final double NOISE_SPREAD = 20;
    private static final float QUALITY = 0.99f;
    private static final double[] GAUSS = new double[4096];

    static {
        SplittableRandom g = new SplittableRandom(42);
        for (int i = 0; i < GAUSS.length; i++) {
            GAUSS[i] = g.nextGaussian();
        }
    }

    private ImageFolderGenerator() {}

    /** The JPEG of image {@code i}. */
    public static byte[] image(long seed, long i, int classes, int size) {
        int cls = (int) (i % classes);
        SplittableRandom c = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + cls);
        SplittableRandom r = new SplittableRandom((seed ^ 0x5DEECE66DL) * 0xBF58476D1CE4E5B9L + i);
        int[] base = {c.nextInt(256), c.nextInt(256), c.nextInt(256)};
        int[] accent = {c.nextInt(256), c.nextInt(256), c.nextInt(256)};
        double angle = c.nextDouble() * Math.PI;
        double freq = 0.02 + c.nextDouble() * 0.2;
        double phase = r.nextDouble() * 2 * Math.PI;
        double cx = Math.cos(angle) * freq;
        double cy = Math.sin(angle) * freq;
        BufferedImage img = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        int[] px = ((DataBufferInt) img.getRaster().getDataBuffer()).getData();
        double noise = NOISE_MIN + r.nextDouble() * NOISE_SPREAD;
        long state = r.nextLong() | 1;
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                double t = 0.5 + 0.5 * Math.sin(x * cx + y * cy + phase);
                int rgb = 0;
                for (int ch = 0; ch < 3; ch++) {
                    state ^= state << 13; // xorshift64: a table lookup of Gaussian noise per value
                    state ^= state >>> 7;
                    state ^= state << 17;
                    double v = base[ch] * (1 - t) + accent[ch] * t + GAUSS[(int) (state >>> 52)] * noise;
                    rgb = rgb << 8 | clamp(v);
                }
                px[y * size + x] = rgb;
            }
        }
        int shapes = 3 + r.nextInt(6);
        for (int s = 0; s < shapes; s++) {
            int color = r.nextInt(1 << 24);
            int x0 = r.nextInt(size);
            int y0 = r.nextInt(size);
            int rad = 8 + r.nextInt(size / 4);
            boolean disc = r.nextBoolean();
            for (int y = Math.max(0, y0 - rad); y < Math.min(size, y0 + rad); y++) {
                for (int x = Math.max(0, x0 - rad); x < Math.min(size, x0 + rad); x++) {
                    if (!disc || (x - x0) * (x - x0) + (y - y0) * (y - y0) < rad * rad) {
                        state ^= state << 13;
                        state ^= state >>> 7;
                        state ^= state << 17;
                        int n = (int) (GAUSS[(int) (state >>> 52)] * noise);
                        px[y * size + x] = clamp((color >> 16 & 0xFF) + n) << 16 | clamp((color >> 8 & 0xFF) + n) << 8
                                | clamp((color & 0xFF) + n);
                    }
                }
            }
        }
        return jpeg(img, QUALITY);
    }

    private static int clamp(double v) {
        return (int) Math.max(0, Math.min(255, Math.round(v)));
    }

    private static byte[] jpeg(BufferedImage img, float quality) {
        ImageWriter w = ImageIO.getImageWritersByFormatName("jpeg").next();
        ByteArrayOutputStream bos = new ByteArrayOutputStream(128 << 10);
        try (MemoryCacheImageOutputStream out = new MemoryCacheImageOutputStream(bos)) {
            ImageWriteParam p = w.getDefaultWriteParam();
            p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
            p.setCompressionQuality(quality);
            w.setOutput(out);
            w.write(null, new IIOImage(img, null, null), p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            w.dispose();
        }
        return bos.toByteArray();
    }

    /** @return the folder of class {@code c} */
    public static String className(int c) {
        return String.format(Locale.ROOT, "n%08d", c);
    }

    /**
     * Writes {@code images} JPEGs under {@code out} on {@code threads} threads.
     *
     * @return total bytes written
     */
    public static long write(Path out, long images, int classes, int size, int threads, long seed) throws Exception {
        for (int c = 0; c < classes; c++) {
            Files.createDirectories(out.resolve(className(c)));
        }
        AtomicLong bytes = new AtomicLong();
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            Future<?>[] parts = new Future<?>[threads];
            for (int t = 0; t < threads; t++) {
                final int tt = t;
                parts[t] = pool.submit(() -> {
                    for (long i = tt; i < images; i += threads) {
                        byte[] b = image(seed, i, classes, size);
                        Files.write(out.resolve(className((int) (i % classes))).resolve("img-" + i + ".JPEG"), b);
                        bytes.addAndGet(b.length);
                    }
                    return null;
                });
            }
            for (Future<?> f : parts) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        return bytes.get();
    }

    /** @param args OUT IMAGES [CLASSES] [SIZE] [THREADS] [SEED] */
    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        long images = Long.parseLong(args[1]);
        int classes = args.length > 2 ? Integer.parseInt(args[2]) : 1000;
        int size = args.length > 3 ? Integer.parseInt(args[3]) : 256;
        int threads = args.length > 4 ? Integer.parseInt(args[4]) : Runtime.getRuntime().availableProcessors();
        long seed = args.length > 5 ? Long.parseLong(args[5]) : 0;
        long t0 = System.nanoTime();
        long bytes = write(out, images, classes, size, threads, seed);
        double s = (System.nanoTime() - t0) / 1e9;
        System.out.printf(Locale.ROOT, "generated %d JPEGs of %dx%d in %d classes: %.1f MB (%.1f KB each) in %.0f s"
                + " (%.0f img/s)%n", images, size, size, classes, bytes / 1e6, bytes / 1e3 / images, s, images / s);
    }
}
