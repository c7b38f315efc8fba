package dev.rq.model.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.rq.model.config.Configs;
import dev.rq.model.engine.Engines;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.SafeTensors;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes and reads checkpoints: a directory with {@code model.safetensors} (official key names),
 * optionally {@code optimizer.safetensors} and {@code trainer_state.json}, and {@code
 * manifest.json} written <b>last</b> with the SHA-256 and size of every other file. Reading
 * verifies the format version and every checksum before any tensor is used, so a truncated or
 * altered checkpoint is rejected, never half-loaded.
 */
public final class Checkpoints {

    /** Format name in the manifest. */
    public static final String FORMAT = "rq-checkpoint";

    /** Current layout version. */
    public static final int FORMAT_VERSION = 1;

    /** Model weights file. */
    public static final String MODEL = "model.safetensors";

    /** Optimizer moments file. */
    public static final String OPTIMIZER = "optimizer.safetensors";

    /** Trainer state (RNG, data cursor, …) file. */
    public static final String TRAINER_STATE = "trainer_state.json";

    /** Manifest file. */
    public static final String MANIFEST = "manifest.json";

    static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(com.fasterxml.jackson.core.JsonGenerator.Feature.AUTO_CLOSE_TARGET);

    private Checkpoints() {}

    /** What to write. */
    public record Contents(
            String kind,
            Object config,
            long step,
            long seed,
            Map<String, HostTensor> model,
            Map<String, HostTensor> optimizer,
            JsonNode trainerState) {}

    /** Writes a checkpoint into {@code dir}; the manifest goes last. */
    public static Manifest write(CheckpointDir dir, Contents c) throws IOException {
        Map<String, Manifest.FileEntry> files = new LinkedHashMap<>();
        Map<String, String> meta = Map.of("format", FORMAT, "kind", c.kind());
        files.put(MODEL, writeHashed(dir, MODEL, out -> SafeTensors.write(c.model(), meta, out)));
        if (c.optimizer() != null) {
            files.put(OPTIMIZER, writeHashed(dir, OPTIMIZER, out -> SafeTensors.write(c.optimizer(), meta, out)));
        }
        if (c.trainerState() != null) {
            files.put(TRAINER_STATE, writeHashed(dir, TRAINER_STATE, out -> JSON.writeValue(out, c.trainerState())));
        }
        Map<String, String> versions = new LinkedHashMap<>();
        versions.put("rq", projectVersion());
        Engines.versions().forEach((k, v) -> versions.put(k.toString(), v.toString()));
        Manifest m = new Manifest(FORMAT, FORMAT_VERSION, c.kind(), Configs.toTree(c.config()),
                Configs.hash(c.config()), c.step(), c.seed(), files, versions, Instant.now().toString());
        try (OutputStream out = dir.create(MANIFEST)) {
            JSON.writeValue(out, m);
        }
        return m;
    }

    /** @return this project's version from the jar manifest ("dev" when run from classes) */
    public static String projectVersion() {
        String v = Checkpoints.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }

    /** A verified checkpoint: the manifest plus the checked bytes of its files. */
    public record Loaded(CheckpointDir dir, Manifest manifest, Map<String, byte[]> files) {

        /** @return the model tensors with their official keys */
        public Map<String, HostTensor> model() throws IOException {
            return SafeTensors.read(new java.io.ByteArrayInputStream(files.get(MODEL))).tensors();
        }

        /** @return optimizer moments, or null if the checkpoint has none */
        public Map<String, HostTensor> optimizer() throws IOException {
            byte[] b = files.get(OPTIMIZER);
            return b == null ? null : SafeTensors.read(new java.io.ByteArrayInputStream(b)).tensors();
        }

        /** @return trainer state, or null */
        public JsonNode trainerState() throws IOException {
            byte[] b = files.get(TRAINER_STATE);
            return b == null ? null : JSON.readTree(b);
        }

        /** @return the configuration bound to {@code type} */
        public <T> T config(Class<T> type) {
            return Configs.bind(manifest.config(), type, "");
        }
    }

    /**
     * Reads and verifies a checkpoint: manifest format and version, then the size and SHA-256 of
     * every listed file.
     *
     * @throws CheckpointException on any missing file or mismatch
     */
    public static Loaded read(CheckpointDir dir) throws IOException {
        if (!dir.exists(MANIFEST)) {
            throw new CheckpointException(dir.uri() + ": no " + MANIFEST + " (not a checkpoint, or an incomplete one)");
        }
        Manifest m;
        try (InputStream in = dir.open(MANIFEST)) {
            m = JSON.readValue(in, Manifest.class);
        } catch (IOException e) {
            throw new CheckpointException(dir.uri() + ": unreadable " + MANIFEST + ": " + e.getMessage(), e);
        }
        if (!FORMAT.equals(m.format())) {
            throw new CheckpointException(dir.uri() + ": format '" + m.format() + "' is not " + FORMAT);
        }
        if (m.formatVersion() != FORMAT_VERSION) {
            throw new CheckpointException(dir.uri() + ": checkpoint format version " + m.formatVersion()
                    + " is not supported by this build (reads version " + FORMAT_VERSION + ")");
        }
        Map<String, byte[]> files = new LinkedHashMap<>();
        for (Map.Entry<String, Manifest.FileEntry> e : m.files().entrySet()) {
            String name = e.getKey();
            if (!dir.exists(name)) {
                throw new CheckpointException(dir.uri() + ": " + name + " listed in the manifest is missing");
            }
            byte[] bytes;
            try (InputStream in = dir.open(name)) {
                bytes = in.readAllBytes();
            }
            if (bytes.length != e.getValue().bytes()) {
                throw new CheckpointException(dir.uri() + ": " + name + " has " + bytes.length
                        + " bytes, the manifest says " + e.getValue().bytes() + " (truncated or altered)");
            }
            String sha = sha256(bytes);
            if (!sha.equals(e.getValue().sha256())) {
                throw new CheckpointException(dir.uri() + ": SHA-256 of " + name + " is " + sha
                        + ", the manifest says " + e.getValue().sha256() + " (corrupted or altered)");
            }
            files.put(name, bytes);
        }
        if (!files.containsKey(MODEL)) {
            throw new CheckpointException(dir.uri() + ": manifest lists no " + MODEL);
        }
        return new Loaded(dir, m, files);
    }

    /** @return hex SHA-256 of {@code bytes} */
    public static String sha256(byte[] bytes) {
        return HexFormat.of().formatHex(digest().digest(bytes));
    }

    private static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    interface Writer {
        void write(OutputStream out) throws IOException;
    }

    private static Manifest.FileEntry writeHashed(CheckpointDir dir, String name, Writer w) throws IOException {
        MessageDigest md = digest();
        long[] count = new long[1];
        try (OutputStream raw = dir.create(name);
                OutputStream counting = new OutputStream() {
                    @Override
                    public void write(int b) throws IOException {
                        raw.write(b);
                        count[0]++;
                    }

                    @Override
                    public void write(byte[] b, int off, int len) throws IOException {
                        raw.write(b, off, len);
                        count[0] += len;
                    }
                };
                DigestOutputStream out = new DigestOutputStream(counting, md)) {
            java.io.BufferedOutputStream buffered = new java.io.BufferedOutputStream(out, 1 << 20);
            w.write(buffered);
            buffered.flush();
        }
        return new Manifest.FileEntry(HexFormat.of().formatHex(md.digest()), count[0]);
    }

    /** @return bytes of a JSON value (for small state files) */
    static byte[] json(Object o) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        JSON.writeValue(b, o);
        return b.toByteArray();
    }
}
