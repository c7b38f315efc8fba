package dev.rq.data.image;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferInt;
import java.util.SplittableRandom;

/**
 * The RQ-VAE image transforms (official {@code rqvae/img_datasets/transforms.py}, torchvision 0.10
 * semantics) producing CHW float tensors in [-1, 1]:
 *
 * <ul>
 *   <li>{@link Mode#TRAIN}: {@code Resize(S)} (shorter side to S, Pillow bilinear with antialias,
 *       see {@link Resampling}) → {@code RandomCrop(S)} → {@code RandomHorizontalFlip(0.5)} (the
 *       flip can be turned off: {@code data.hflip: false}).
 *   <li>{@link Mode#EVAL}: {@code Resize(S)} → {@code CenterCrop(S)} (offsets rounded half-to-even
 *       like Python's {@code round}).
 * </ul>
 *
 * Then {@code ToTensor} + {@code Normalize(0.5, 0.5)}: {@code ((v / 255f) − 0.5f) / 0.5f}.
 *
 * <p>Randomness comes only from the {@code sampleSeed} argument: the crop's top offset is {@code
 * nextInt(h − S + 1)}, then the left offset {@code nextInt(w − S + 1)}, then the flip {@code
 * nextDouble() < 0.5} (drawn also when flipping is off, so the crops stay the same), all from
 * one {@link SplittableRandom}. The loader derives {@code sampleSeed}
 * from (seed, epoch, global sample index), so augmentation does not depend on the worker count or
 * on thread scheduling. Immutable and thread-safe.
 */
public final class ImageTransform {

    /** Training (random crop + flip) or evaluation (center crop). */
    public enum Mode {
        TRAIN,
        EVAL
    }

    private final int size;
    private final Mode mode;
    private final boolean hflip;

    /**
     * @param size output side S in pixels (also the shorter-side resize target)
     * @param mode train or eval
     */
    public ImageTransform(int size, Mode mode) {
        this(size, mode, true);
    }

    /**
     * @param size output side S in pixels (also the shorter-side resize target)
     * @param mode train or eval
     * @param hflip random horizontal flips in train mode
     */
    public ImageTransform(int size, Mode mode, boolean hflip) {
        if (size <= 0) {
            throw new IllegalArgumentException("size must be > 0, got " + size);
        }
        this.size = size;
        this.mode = mode;
        this.hflip = hflip;
    }

    public int size() {
        return size;
    }

    public Mode mode() {
        return mode;
    }

    /** Floats written per image: {@code 3 * S * S}. */
    public int tensorLength() {
        return 3 * size * size;
    }

    /**
     * Transforms one decoded image and writes its CHW tensor.
     *
     * @param rgb TYPE_INT_RGB image (from {@link ImageDecoding#decode})
     * @param sampleSeed per-sample seed (ignored in EVAL mode)
     * @param dst destination array
     * @param offset index of the first float to write; {@link #tensorLength()} floats are written
     */
    public void apply(BufferedImage rgb, long sampleSeed, float[] dst, int offset) {
        int w = rgb.getWidth();
        int h = rgb.getHeight();
        int[] rs = Resampling.shorterSideSize(w, h, size);
        int[] px = ((DataBufferInt) rgb.getRaster().getDataBuffer()).getData();
        int[] resized = Resampling.resize(px, w, h, rs[0], rs[1]);
        int rw = rs[0];
        int rh = rs[1];
        int top;
        int left;
        boolean flip;
        if (mode == Mode.TRAIN) {
            SplittableRandom rnd = new SplittableRandom(sampleSeed);
            top = rnd.nextInt(rh - size + 1);
            left = rnd.nextInt(rw - size + 1);
            flip = rnd.nextDouble() < 0.5 && hflip;
        } else {
            top = (int) Math.rint((rh - size) / 2.0);
            left = (int) Math.rint((rw - size) / 2.0);
            flip = false;
        }
        int plane = size * size;
        for (int y = 0; y < size; y++) {
            int row = (y + top) * rw + left;
            int o = offset + y * size;
            for (int x = 0; x < size; x++) {
                int p = resized[row + (flip ? size - 1 - x : x)];
                dst[o + x] = norm(p >> 16 & 0xFF);
                dst[o + plane + x] = norm(p >> 8 & 0xFF);
                dst[o + 2 * plane + x] = norm(p & 0xFF);
            }
        }
    }

    private static float norm(int v) {
        return ((v / 255f) - 0.5f) / 0.5f;
    }
}
