package dev.rq.model.checkpoint;

import dev.rq.model.config.QuantizerConfig;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.TensorData;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;

/**
 * The SHA-256 identities of models and their parts, in one place: every job that checks "same
 * weights" or "same codebook" uses these. Tensors are hashed one at a time ({@link TensorData}),
 * never via a host copy of the whole model.
 */
public final class ModelHashes {

    /** What {@link #codebookSha256} hashes (stored in token-table manifests as {@code codebook_hash_of}). */
    public static final String CODEBOOK_HASH_OF =
            "SHA-256 over the little-endian float32 bytes of quantizer.codebooks.<d>.weight ([K+1, C], padding row"
                    + " included) for each distinct codebook d = 0.. in order (only d = 0 when shared)";

    private ModelHashes() {}

    /** @return hex SHA-256 of {@code bytes} */
    public static String sha256(byte[] bytes) {
        return HexFormat.of().formatHex(digest().digest(bytes));
    }

    /**
     * SHA-256 over the UTF-8 names and the bytes of {@code tensors}, in map order: the identity of
     * a replica's weights that data-parallel ranks compare.
     */
    public static String tensorsSha256(Map<String, ? extends TensorData> tensors) {
        MessageDigest md = digest();
        OutputStream sink = sink(md);
        try {
            for (Map.Entry<String, ? extends TensorData> e : tensors.entrySet()) {
                md.update(e.getKey().getBytes(StandardCharsets.UTF_8));
                e.getValue().writeTo(sink);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /**
     * SHA-256 of the codebook weights of an RQ-VAE state dict, see {@link #CODEBOOK_HASH_OF}: the
     * identity of the code vocabulary that token tables, decoders and stage-2 models must share.
     *
     * @param model official-key tensors (at least {@code quantizer.codebooks.<d>.weight})
     */
    public static String codebookSha256(Map<String, ? extends TensorData> model, QuantizerConfig q) {
        MessageDigest md = digest();
        OutputStream sink = sink(md);
        try {
            for (int d = 0; d < q.numCodebooks(); d++) {
                TensorData w = model.get(codebookKey(d));
                if (w == null) {
                    throw new IllegalArgumentException("checkpoint has no " + codebookKey(d));
                }
                if (w.dtype() != HostTensor.Dtype.F32) {
                    throw new IllegalArgumentException("codebook " + d + " is " + w.dtype() + ", expected F32");
                }
                w.writeTo(sink);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /**
     * {@link #codebookSha256(Map, QuantizerConfig)} of a checkpoint's model file, reading only the
     * codebook tensors into memory (one verifying pass over the file).
     */
    public static String codebookSha256(Checkpoints.Loaded checkpoint, QuantizerConfig q) throws IOException {
        return codebookSha256(checkpoint.model(k -> k.startsWith("quantizer.codebooks.") && k.endsWith(".weight")), q);
    }

    /** @return the official key of the weight of codebook {@code d} */
    public static String codebookKey(int d) {
        return "quantizer.codebooks." + d + ".weight";
    }

    static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static OutputStream sink(MessageDigest md) {
        return new OutputStream() {
            @Override
            public void write(int b) {
                md.update((byte) b);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                md.update(b, off, len);
            }
        };
    }
}
