package dev.rq.data.items;

import java.nio.ByteBuffer;

/**
 * Parquet's RLE/bit-packed hybrid encoding of repetition or definition levels, read a run at a time:
 * an RLE run of n equal levels is one step ({@link #run()} = n), a bit-packed group is eight steps of
 * one level each. Embedding columns are long runs (a row of 768 elements is one level-0 entry and one
 * RLE run of 767), so walking them costs per run, not per element.
 */
final class LevelRuns {
    private final ByteBuffer src;
    private final int bitWidth;
    private final int bytesPerValue;
    private int pos;
    private final int end;
    private final String where;
    /** Entries left in the current RLE run, or in the current bit-packed run (groups of 8). */
    private int left;
    private boolean rle;
    private int rleValue;
    private final int[] packed = new int[8];
    private int packedAt = 8;

    /**
     * @param src the encoded levels in {@code [start, end)} (absolute positions; {@code src} is not moved)
     * @param where the file, for errors
     */
    LevelRuns(ByteBuffer src, int start, int end, int bitWidth, String where) {
        this.src = src;
        this.pos = start;
        this.end = end;
        this.bitWidth = bitWidth;
        this.bytesPerValue = (bitWidth + 7) / 8;
        this.where = where;
    }

    /** @return the level of the current entry (loads the next run when the current one is used up) */
    int value() {
        if (left == 0) {
            nextRun();
        }
        return rle ? rleValue : packed[packedAt];
    }

    /** @return how many entries from the current one on carry the same level in this run (at least 1) */
    int run() {
        if (left == 0) {
            nextRun();
        }
        return rle ? left : 1;
    }

    /** Moves past {@code n} entries, {@code n <= run()}. */
    void skip(int n) {
        left -= n;
        if (!rle) {
            packedAt += n;
            if (packedAt == 8 && left > 0) {
                unpackGroup();
            }
        }
    }

    private void nextRun() {
        if (pos >= end) {
            throw new IllegalStateException("corrupt Parquet page in " + where + ": its levels end early");
        }
        int header = readVarInt();
        if ((header & 1) == 0) {
            rle = true;
            left = header >>> 1;
            int v = 0;
            for (int i = 0; i < bytesPerValue; i++) {
                v |= (src.get(pos++) & 0xff) << (8 * i);
            }
            rleValue = v;
        } else {
            rle = false;
            left = (header >>> 1) * 8;
            unpackGroup();
        }
        if (left <= 0) {
            throw new IllegalStateException("corrupt Parquet page in " + where + ": an empty level run");
        }
    }

    /** Unpacks the next 8 bit-packed levels (LSB first, bitWidth bytes). */
    private void unpackGroup() {
        if (pos + bitWidth > end) {
            throw new IllegalStateException("corrupt Parquet page in " + where + ": its levels end early");
        }
        long bits = 0;
        for (int i = 0; i < bitWidth; i++) {
            bits |= (long) (src.get(pos + i) & 0xff) << (8 * i);
        }
        pos += bitWidth;
        int mask = (1 << bitWidth) - 1;
        for (int i = 0; i < 8; i++) {
            packed[i] = (int) (bits >>> (i * bitWidth)) & mask;
        }
        packedAt = 0;
    }

    private int readVarInt() {
        int v = 0;
        for (int shift = 0; shift < 35; shift += 7) {
            if (pos >= end) {
                break;
            }
            int b = src.get(pos++) & 0xff;
            v |= (b & 0x7f) << shift;
            if ((b & 0x80) == 0) {
                return v;
            }
        }
        throw new IllegalStateException("corrupt Parquet page in " + where + ": a bad level run header");
    }
}
