package dev.rq.data.ingest;

import java.awt.image.BufferedImage;
import java.io.DataInputStream;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPInputStream;
import javax.imageio.ImageIO;

/**
 * Converts an MNIST-style IDX pair (images {@code idx3-ubyte}, labels {@code idx1-ubyte}, gzipped
 * or not) into an ImageFolder of grayscale PNGs, {@code <out>/<class>/<index>.png}, for {@code rq
 * ingest --format imagefolder}. Class folder names must sort in label order.
 *
 * <pre>
 * IdxToImageFolder images.gz labels.gz out-dir class0,class1,...
 * </pre>
 */
public final class IdxToImageFolder {
    /** Fashion-MNIST class folder names (label order = sorted order). */
    public static final List<String> FASHION_MNIST = List.of("0_tshirt_top", "1_trouser",
            "2_pullover", "3_dress", "4_coat", "5_sandal", "6_shirt", "7_sneaker", "8_bag",
            "9_ankle_boot");

    private IdxToImageFolder() {}

    private static DataInputStream open(String f) throws IOException {
        InputStream in = new FileInputStream(f);
        if (f.endsWith(".gz")) {
            in = new GZIPInputStream(in, 1 << 16);
        }
        return new DataInputStream(new java.io.BufferedInputStream(in, 1 << 16));
    }

    /** Writes the PNGs; returns the number of images. */
    public static int convert(String images, String labels, Path out, List<String> classes)
            throws IOException {
        try (DataInputStream im = open(images); DataInputStream lb = open(labels)) {
            if (im.readInt() != 0x0803 || lb.readInt() != 0x0801) {
                throw new IOException("not an IDX image/label pair");
            }
            int n = im.readInt();
            int h = im.readInt();
            int w = im.readInt();
            if (lb.readInt() != n) {
                throw new IOException("image and label counts differ");
            }
            for (String c : classes) {
                Files.createDirectories(out.resolve(c));
            }
            byte[] px = new byte[w * h];
            for (int i = 0; i < n; i++) {
                im.readFully(px);
                int label = lb.readUnsignedByte();
                BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
                img.getRaster().setDataElements(0, 0, w, h, px);
                ImageIO.write(img, "png",
                        out.resolve(classes.get(label)).resolve(String.format("%05d.png", i))
                                .toFile());
            }
            return n;
        }
    }

    public static void main(String[] args) throws IOException {
        List<String> classes = args.length > 3 ? List.of(args[3].split(",")) : FASHION_MNIST;
        int n = convert(args[0], args[1], Path.of(args[2]), classes);
        System.out.println("wrote " + n + " PNGs to " + args[2]);
    }
}
