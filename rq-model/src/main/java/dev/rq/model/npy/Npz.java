package dev.rq.model.npy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * numpy's {@code .npz} archives: a zip file of {@code <name>.npy} members ({@link Npy}), as
 * written by {@code np.savez} (stored) or {@code np.savez_compressed} (deflated) and read by
 * {@code np.load}. FID reference statistics are such files with the arrays {@code mu} [2048] and
 * {@code sigma} [2048, 2048] (pytorch-fid, the official {@code assets/fid_stats/*.npz}). Streams
 * only, so the archive can live on any Hadoop file system.
 */
public final class Npz {

    private Npz() {}

    /**
     * Reads every array of an archive.
     *
     * @param name for error messages
     * @return arrays by name (member name without {@code .npy}), in archive order
     * @throws IOException when the stream is not a zip of .npy arrays
     */
    public static Map<String, Npy.Array> read(InputStream in, String name) throws IOException {
        Map<String, Npy.Array> out = new LinkedHashMap<>();
        try (ZipInputStream zin = new ZipInputStream(in)) {
            for (ZipEntry e; (e = zin.getNextEntry()) != null; ) {
                if (e.isDirectory()) {
                    continue;
                }
                String member = e.getName().endsWith(".npy")
                        ? e.getName().substring(0, e.getName().length() - 4) : e.getName();
                out.put(member, Npy.read(zin, name + ":" + e.getName()));
            }
        } catch (java.util.zip.ZipException e) {
            throw new IOException(name + ": not an .npz archive: " + e.getMessage(), e);
        }
        if (out.isEmpty()) {
            throw new IOException(name + ": not an .npz archive (no arrays)");
        }
        return out;
    }

    /** Writes arrays (in map order) as an uncompressed archive, like {@code np.savez}. */
    public static void write(Map<String, Npy.Array> arrays, OutputStream out) throws IOException {
        ZipOutputStream zout = new ZipOutputStream(out);
        for (Map.Entry<String, Npy.Array> a : arrays.entrySet()) {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            Npy.write(a.getValue(), buf);
            byte[] bytes = buf.toByteArray();
            CRC32 crc = new CRC32();
            crc.update(bytes);
            ZipEntry e = new ZipEntry(a.getKey() + ".npy");
            e.setMethod(ZipEntry.STORED);
            e.setSize(bytes.length);
            e.setCompressedSize(bytes.length);
            e.setCrc(crc.getValue());
            zout.putNextEntry(e);
            zout.write(bytes);
            zout.closeEntry();
        }
        zout.finish();
        zout.flush();
    }
}
