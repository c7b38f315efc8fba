package dev.rq.tables;

import java.io.Serializable;
import java.util.Arrays;

/**
 * One row of a token table as a Java bean (for {@code Encoders.bean}): {@link TokenTable#typed()}
 * widens {@code codes} to {@code int[]} and {@code variant} to {@code int}.
 */
public class TokenRow implements Serializable {
    private static final long serialVersionUID = 1L;

    private String id;
    private Long label;
    private int variant;
    private int[] codes;
    private String sourceShard;
    private long sourceRow;
    private byte[] latents;
    private String split;

    public String getId() {
        return id;
    }

    public void setId(String id) {
        this.id = id;
    }

    public Long getLabel() {
        return label;
    }

    public void setLabel(Long label) {
        this.label = label;
    }

    public int getVariant() {
        return variant;
    }

    public void setVariant(int variant) {
        this.variant = variant;
    }

    /** @return the flattened (h, w, d) codes */
    public int[] getCodes() {
        return codes;
    }

    public void setCodes(int[] codes) {
        this.codes = codes;
    }

    public String getSourceShard() {
        return sourceShard;
    }

    public void setSourceShard(String sourceShard) {
        this.sourceShard = sourceShard;
    }

    public long getSourceRow() {
        return sourceRow;
    }

    public void setSourceRow(long sourceRow) {
        this.sourceRow = sourceRow;
    }

    /** @return [h, w, C] float16 little-endian bytes, or null */
    public byte[] getLatents() {
        return latents;
    }

    public void setLatents(byte[] latents) {
        this.latents = latents;
    }

    public String getSplit() {
        return split;
    }

    public void setSplit(String split) {
        this.split = split;
    }

    /** @return code at (h, w, d) for a table of code shape [H, W, D] */
    public int code(int h, int w, int d, int width, int depth) {
        return codes[(h * width + w) * depth + d];
    }

    @Override
    public String toString() {
        return "TokenRow[" + split + " " + id + " v" + variant + " label " + label + " codes "
                + (codes == null ? "null" : Arrays.toString(Arrays.copyOf(codes, Math.min(8, codes.length))) + "…")
                + "]";
    }
}
