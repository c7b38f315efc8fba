package dev.rq.data.image;

import java.util.Locale;

/**
 * Why an input file or sample was not accepted into a dataset. The {@link #code()} strings are
 * stable: they appear in {@code _rejects/} Parquet files and in the sidecar's reject counts.
 */
public enum RejectReason {
    /** Zero-length file. */
    EMPTY_FILE,
    /** The bytes do not start with the signature of any known image format. */
    NOT_AN_IMAGE,
    /** A recognised image format for which no decoder is available (HEIC, AVIF, JPEG 2000, …). */
    UNSUPPORTED_FORMAT,
    /** The image data ends early (premature end of JPEG / PNG data). */
    TRUNCATED,
    /** The decoder failed for another reason (corrupt data, bad header, …). */
    DECODE_ERROR,
    /** Width or height is zero, or the pixel count exceeds the decoder's limit. */
    BAD_DIMENSIONS,
    /** ImageFolder: a file that is not inside a class sub-folder (for example at the root). */
    OUTSIDE_CLASS_FOLDER,
    /** WebDataset: a sample (a key) with label or metadata members but no image member. */
    NO_IMAGE,
    /** WebDataset / Parquet: the label member or column could not be parsed as an integer. */
    BAD_LABEL,
    /** The file could not be read from the file system (I/O error, bad tar entry). */
    READ_ERROR;

    /** The stable lower-case code, for example {@code not_an_image}. */
    public String code() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses a {@link #code()} back into the enum constant. */
    public static RejectReason fromCode(String code) {
        return valueOf(code.toUpperCase(Locale.ROOT));
    }
}
