package dev.rq.io;

import java.io.IOException;
import java.util.UUID;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Replacing a job's output folder atomically: the job writes a hidden temporary sibling, then
 * {@link #replace} moves an existing output aside, renames the new one into place and deletes the
 * old one (restoring it if the rename fails). {@link #checkReplaceable} refuses to replace
 * anything that is not an earlier output of the same kind.
 */
public final class AtomicOutput {

    private AtomicOutput() {}

    /**
     * Fails unless {@code out} is absent, an empty folder, or a folder holding {@code marker}.
     *
     * @param label how the error names the output (e.g. {@code --output})
     * @param kind what an earlier output is (e.g. {@code a token table}), for the message
     */
    public static void checkReplaceable(FileSystem fs, Path out, String marker, String label, String kind)
            throws IOException {
        if (!fs.exists(out)) {
            return;
        }
        if (!fs.getFileStatus(out).isDirectory()) {
            throw new IllegalArgumentException(label + ": " + out + " exists and is a file: choose another "
                    + label + " or remove it");
        }
        if (fs.listStatus(out).length > 0 && !fs.exists(new Path(out, marker))) {
            throw new IllegalArgumentException(label + ": " + out + " exists, is not empty and is not " + kind
                    + " (no " + marker + "): refusing to replace it; choose another " + label + " or empty it");
        }
    }

    /** Renames {@code tmp} to {@code out}, moving an existing output aside first and deleting it after. */
    public static void replace(FileSystem fs, Path tmp, Path out) throws IOException {
        Path old = null;
        if (fs.exists(out)) {
            old = new Path(out.getParent(), "." + out.getName() + ".old-" + UUID.randomUUID());
            if (!fs.rename(out, old)) {
                throw new IOException("could not move the old output " + out + " aside");
            }
        }
        if (!fs.rename(tmp, out)) {
            if (old != null) {
                fs.rename(old, out);
            }
            throw new IOException("could not rename " + tmp + " to " + out);
        }
        if (old != null) {
            fs.delete(old, true);
        }
    }
}
