package dev.rq.data.ingest;

import dev.rq.data.image.ImageDecodeException;
import dev.rq.data.image.ImageDecoding;
import dev.rq.data.image.Resampling;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.Serializable;
import java.util.Iterator;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.MemoryCacheImageOutputStream;

/**
 * Validates one input unit by fully decoding it ({@link ImageDecoding#decode}); accepted units keep
 * their original encoded bytes. With a resize target S, images whose shorter side exceeds S are
 * resized (shorter side to S, Pillow bilinear, see {@link Resampling}) and re-encoded: JPEG sources
 * as JPEG quality 95, everything else as PNG; images already within S keep their bytes.
 */
public final class IngestProcessor implements Serializable {
    private static final long serialVersionUID = 1L;

    /** JPEG quality used when re-encoding resized JPEGs. */
    public static final float JPEG_QUALITY = 0.95f;

    private final Integer resize;

    /** @param resize shorter-side target, or null to keep the original bytes */
    public IngestProcessor(Integer resize) {
        if (resize != null && resize <= 0) {
            throw new IllegalArgumentException("resize must be > 0, got " + resize);
        }
        this.resize = resize;
    }

    /** Decides the outcome of one unit. */
    public IngestResult process(SourceRecord r) {
        if (r.preReject() != null) {
            return new IngestResult(r.sortKey(), r.path(), null, r.label(), r.size(),
                    r.preReject().code(), r.detail());
        }
        try {
            BufferedImage img = ImageDecoding.decode(r.bytes());
            byte[] out = r.bytes();
            if (resize != null && Math.min(img.getWidth(), img.getHeight()) > resize) {
                int[] wh = Resampling.shorterSideSize(img.getWidth(), img.getHeight(), resize);
                BufferedImage small = Resampling.resize(img, wh[0], wh[1]);
                out = encode(small, ImageDecoding.sniff(r.bytes()) == ImageDecoding.Format.JPEG);
            }
            return new IngestResult(r.sortKey(), r.path(), out, r.label(), r.size(), null, null);
        } catch (ImageDecodeException e) {
            return new IngestResult(r.sortKey(), r.path(), null, r.label(), r.size(),
                    e.reason().code(), e.getMessage());
        } catch (IOException | RuntimeException e) {
            return new IngestResult(r.sortKey(), r.path(), null, r.label(), r.size(),
                    "decode_error", String.valueOf(e));
        }
    }

    static byte[] encode(BufferedImage img, boolean jpeg) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        if (!jpeg) {
            ImageIO.write(img, "png", bos);
            return bos.toByteArray();
        }
        Iterator<ImageWriter> it = ImageIO.getImageWritersByFormatName("jpeg");
        ImageWriter w = it.next();
        try (MemoryCacheImageOutputStream out = new MemoryCacheImageOutputStream(bos)) {
            ImageWriteParam p = w.getDefaultWriteParam();
            p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
            p.setCompressionQuality(JPEG_QUALITY);
            w.setOutput(out);
            w.write(null, new IIOImage(img, null, null), p);
        } finally {
            w.dispose();
        }
        return bos.toByteArray();
    }
}
