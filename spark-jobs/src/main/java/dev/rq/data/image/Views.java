package dev.rq.data.image;

import dev.rq.tables.Variant;
import java.awt.image.BufferedImage;
import java.util.List;

/**
 * The model inputs of every {@link Variant} of an image: the evaluation transform ({@link
 * ImageTransform.Mode#EVAL}: shorter side to S, center crop) and its mirror. Used by the tokenize
 * job and by anyone who wants to reproduce a row's codes in-process.
 */
public final class Views {

    private final ImageTransform transform;

    /** @param size S, the model resolution */
    public Views(int size) {
        this.transform = new ImageTransform(size, ImageTransform.Mode.EVAL);
    }

    /** @return S */
    public int size() {
        return transform.size();
    }

    /** @return floats per view, 3·S·S */
    public int tensorLength() {
        return transform.tensorLength();
    }

    /**
     * Decodes an encoded image and writes one CHW tensor per variant, consecutively.
     *
     * @param bytes encoded image
     * @param variants views to write, in this order
     * @param dst destination
     * @param offset first float written; {@code variants.size() * tensorLength()} floats are written
     */
    public void write(byte[] bytes, List<Variant> variants, float[] dst, int offset) throws ImageDecodeException {
        write(ImageDecoding.decode(bytes), variants, dst, offset);
    }

    /** As {@link #write(byte[], List, float[], int)} for a decoded TYPE_INT_RGB image. */
    public void write(BufferedImage rgb, List<Variant> variants, float[] dst, int offset) {
        int n = tensorLength();
        int center = -1;
        for (int i = 0; i < variants.size(); i++) {
            int o = offset + i * n;
            switch (variants.get(i)) {
                case CENTER -> {
                    transform.apply(rgb, 0L, dst, o);
                    center = o;
                }
                case HFLIP -> {
                    if (center >= 0) {
                        System.arraycopy(dst, center, dst, o, n);
                    } else {
                        transform.apply(rgb, 0L, dst, o);
                    }
                    mirror(dst, o, transform.size());
                }
                default -> throw new IllegalArgumentException("unsupported variant " + variants.get(i));
            }
        }
    }

    /** Reverses the columns of a CHW tensor of side {@code s} in place. */
    static void mirror(float[] a, int offset, int s) {
        for (int row = 0; row < 3 * s; row++) {
            int b = offset + row * s;
            for (int i = 0, j = s - 1; i < j; i++, j--) {
                float t = a[b + i];
                a[b + i] = a[b + j];
                a[b + j] = t;
            }
        }
    }
}
