package dev.rq.io;

import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.SafeTensors;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * A pretrained network's weights given by the user as a safetensors file at a Hadoop URI (they are
 * never downloaded): read once, with the SHA-256 of the bytes, so executors can check that they
 * load the file the driver validated.
 *
 * @param uri where the file is
 * @param sha256 hex SHA-256 of the file
 * @param tensors the state dict
 */
public record PretrainedWeights(String uri, String sha256, Map<String, HostTensor> tensors) {

    /**
     * Reads {@code uri}.
     *
     * @param key the config key that named the file, for error messages
     * @throws FileNotFoundException naming the key when the file does not exist
     * @throws IOException when it is not a safetensors file
     */
    public static PretrainedWeights read(String uri, String key, Configuration conf) throws IOException {
        Path p = new Path(uri);
        FileSystem fs = p.getFileSystem(conf);
        if (!fs.exists(p) || fs.getFileStatus(p).isDirectory()) {
            throw new FileNotFoundException(key + ": " + uri + " is not a file (weights are never downloaded;"
                    + " docs/eval.md and docs/training.md show the one-line conversion of the standard files to safetensors)");
        }
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        try (InputStream in = new DigestInputStream(fs.open(p), md)) {
            SafeTensors.Contents c;
            try {
                c = SafeTensors.read(in);
            } catch (IOException e) {
                throw new IOException(key + ": " + uri + ": " + e.getMessage(), e);
            }
            in.transferTo(java.io.OutputStream.nullOutputStream()); // hash trailing bytes too
            return new PretrainedWeights(fs.makeQualified(p).toString(), HexFormat.of().formatHex(md.digest()),
                    c.tensors());
        }
    }
}
