package dev.rq.data.loader;

import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.image.ImageDecodeException;
import dev.rq.data.image.ImageDecoding;
import dev.rq.data.image.ImageTransform;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.MemoryCacheImageOutputStream;
import org.apache.hadoop.conf.Configuration;

/**
 * Decode + augment throughput: images per second on one thread (= per core) and on all threads
 * of a {@link BatchLoader}, for a canonical split and for generated 256×256 JPEGs.
 *
 * <pre>
 * scripts/rq-java.sh dev.rq.data.loader.LoaderBenchmark [split-uri] [size] [threads]
 * </pre>
 */
public final class LoaderBenchmark {
    private LoaderBenchmark() {}

    /** Result of one measurement. */
    public record Result(String name, int images, double perSecondOneThread,
            double perSecondAllThreads, int threads) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%-34s %6d img  1 thread: %8.0f img/s   %d threads:"
                    + " %8.0f img/s", name, images, perSecondOneThread, threads,
                    perSecondAllThreads);
        }
    }

    /** Single-thread decode + train transform over {@code samples}, repeated {@code reps}. */
    static double oneThread(List<byte[]> samples, ImageTransform t, int reps)
            throws ImageDecodeException {
        float[] out = new float[t.tensorLength()];
        long start = System.nanoTime();
        int n = 0;
        for (int r = 0; r < reps; r++) {
            for (byte[] s : samples) {
                t.apply(ImageDecoding.decode(s), n, out, 0);
                n++;
            }
        }
        return n / ((System.nanoTime() - start) / 1e9);
    }

    /** Measures a canonical split with the real loader (threads) and a single-thread loop. */
    public static Result measureSplit(String splitUri, int size, int threads, int reps)
            throws IOException, ImageDecodeException {
        CanonicalDataset ds = CanonicalDataset.open(splitUri, new Configuration());
        List<byte[]> bytes = new ArrayList<>();
        for (CanonicalDataset.Sample s : ds.readAll()) {
            bytes.add(s.bytes());
        }
        ImageTransform t = new ImageTransform(size, ImageTransform.Mode.TRAIN);
        oneThread(bytes, t, 1); // warm-up
        double one = oneThread(bytes, t, reps);
        int batch = 64;
        double all;
        try (BatchLoader l = BatchLoader.builder().setDataset(ds).setGlobalBatchSize(batch)
                .optPartitions(8).optShuffleWindow(1024).optCacheBytes(1L << 30)
                .setTransform(t).optThreads(threads).optPrefetch(4).build()) {
            long steps = Math.max(1, reps * l.stepsPerEpoch());
            for (int i = 0; i < Math.min(steps, 5); i++) {
                l.next(); // warm-up
            }
            long start = System.nanoTime();
            for (long i = 0; i < steps; i++) {
                l.next();
            }
            all = steps * batch / ((System.nanoTime() - start) / 1e9);
        }
        return new Result(splitUri.replaceAll(".*/data/", "data/") + " S=" + size, bytes.size(),
                one, all, threads);
    }

    /** Generated 256×256 JPEGs (quality 90, smooth content plus noise), S = 256 train transform. */
    public static Result measureJpeg256(int count, int threads, int reps) throws Exception {
        List<byte[]> jpegs = new ArrayList<>();
        Random rnd = new Random(0);
        for (int i = 0; i < count; i++) {
            BufferedImage img = new BufferedImage(256, 256, BufferedImage.TYPE_INT_RGB);
            double fx = 0.01 + rnd.nextDouble() * 0.1;
            double fy = 0.01 + rnd.nextDouble() * 0.1;
            for (int y = 0; y < 256; y++) {
                for (int x = 0; x < 256; x++) {
                    int r = clamp(127 + 100 * Math.sin(x * fx + y * fy) + rnd.nextGaussian() * 12);
                    int g = clamp(127 + 100 * Math.cos(x * fy - y * fx) + rnd.nextGaussian() * 12);
                    int b = clamp((x + y) / 2.0 + rnd.nextGaussian() * 12);
                    img.setRGB(x, y, r << 16 | g << 8 | b);
                }
            }
            jpegs.add(jpeg(img));
        }
        ImageTransform t = new ImageTransform(256, ImageTransform.Mode.TRAIN);
        oneThread(jpegs, t, 1);
        double one = oneThread(jpegs, t, reps);
        // all threads: split the list over a fixed pool
        java.util.concurrent.ExecutorService pool =
                java.util.concurrent.Executors.newFixedThreadPool(threads);
        try {
            long start = System.nanoTime();
            List<java.util.concurrent.Future<Double>> fs = new ArrayList<>();
            for (int k = 0; k < threads; k++) {
                fs.add(pool.submit(() -> oneThread(jpegs, t, reps)));
            }
            for (java.util.concurrent.Future<Double> f : fs) {
                f.get();
            }
            double all = (double) threads * reps * jpegs.size()
                    / ((System.nanoTime() - start) / 1e9);
            return new Result("generated 256x256 JPEG q90 S=256", count, one, all, threads);
        } finally {
            pool.shutdownNow();
        }
    }

    private static int clamp(double v) {
        return (int) Math.max(0, Math.min(255, v));
    }

    private static byte[] jpeg(BufferedImage img) throws IOException {
        ImageWriter w = ImageIO.getImageWritersByFormatName("jpeg").next();
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (MemoryCacheImageOutputStream out = new MemoryCacheImageOutputStream(bos)) {
            ImageWriteParam p = w.getDefaultWriteParam();
            p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
            p.setCompressionQuality(0.9f);
            w.setOutput(out);
            w.write(null, new IIOImage(img, null, null), p);
        } finally {
            w.dispose();
        }
        return bos.toByteArray();
    }

    /**
     * @param args [split-uri (default data/emoji/train)] [threads (default: cores)]
     */
    public static void main(String[] args) throws Exception {
        String split = args.length > 0 ? args[0] : "data/emoji/train";
        int threads = args.length > 1 ? Integer.parseInt(args[1])
                : Runtime.getRuntime().availableProcessors();
        System.out.println("cores: " + Runtime.getRuntime().availableProcessors() + ", java "
                + System.getProperty("java.version"));
        System.out.println(measureSplit(split, 64, threads, 3));
        System.out.println(measureSplit(split, 32, threads, 3));
        System.out.println(measureJpeg256(200, threads, 2));
    }
}
