package dev.rq.model.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.rq.model.config.Configs;
import dev.rq.model.engine.Engines;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.PositionedInput;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.safetensors.TensorData;
import dev.rq.model.safetensors.TensorSource;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.security.DigestInputStream;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Writes and reads checkpoints: a directory with {@code model.safetensors} (official key names),
 * optionally {@code optimizer.safetensors} and {@code trainer_state.json}, and {@code
 * manifest.json} written <b>last</b> with the SHA-256 and size of every other file. Reading
 * verifies the format version and every checksum, so a truncated or altered checkpoint is
 * rejected, never half-loaded.
 *
 * <p>Everything streams, for models of any size (files over 2 GiB, tens of GB on object stores):
 * writing pulls one tensor at a time from {@link TensorData} views while hashing the bytes on
 * their way out; reading hashes while it hands out one tensor at a time ({@link
 * Loaded#modelSource()}), and fails at the end of the file if size or SHA-256 differ — loaders
 * discard what they built in that case. {@link #read} verifies every file up front (one streaming
 * pass, nothing kept); {@link #open} only checks the manifest and leaves the verification to the
 * one pass that loads the tensors.
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

    /**
     * What to write.
     *
     * @param model official-key tensors (views are copied to the host one at a time)
     * @param optimizer optimizer moments, or null
     * @param trainerState trainer state, or null
     * @param extra further safetensors files by file name (e.g. the stage-1 discriminator and its
     *     optimizer), in writing order; empty for none
     */
    public record Contents(
            String kind,
            Object config,
            long step,
            long seed,
            Map<String, ? extends TensorData> model,
            Map<String, ? extends TensorData> optimizer,
            JsonNode trainerState,
            Map<String, Map<String, ? extends TensorData>> extra) {

        public Contents {
            extra = extra == null ? Map.of() : extra;
        }

        /** Contents without extra files. */
        public Contents(String kind, Object config, long step, long seed, Map<String, ? extends TensorData> model,
                Map<String, ? extends TensorData> optimizer, JsonNode trainerState) {
            this(kind, config, step, seed, model, optimizer, trainerState, null);
        }
    }

    /** Writes a checkpoint into {@code dir}; the manifest goes last. */
    public static Manifest write(CheckpointDir dir, Contents c) throws IOException {
        Map<String, Manifest.FileEntry> files = new LinkedHashMap<>();
        Map<String, String> meta = Map.of("format", FORMAT, "kind", c.kind());
        files.put(MODEL, writeHashed(dir, MODEL, out -> SafeTensors.write(c.model(), meta, out)));
        if (c.optimizer() != null) {
            files.put(OPTIMIZER, writeHashed(dir, OPTIMIZER, out -> SafeTensors.write(c.optimizer(), meta, out)));
        }
        for (Map.Entry<String, Map<String, ? extends TensorData>> e : c.extra().entrySet()) {
            files.put(e.getKey(), writeHashed(dir, e.getKey(), out -> SafeTensors.write(e.getValue(), meta, out)));
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

    /**
     * A checkpoint whose manifest was checked: its files are read on demand, each in one streaming
     * pass that verifies its size and SHA-256 against the manifest.
     */
    public record Loaded(CheckpointDir dir, Manifest manifest) {

        /** @return all model tensors with their official keys (on the heap: small models, tests) */
        public Map<String, HostTensor> model() throws IOException {
            return model(k -> true);
        }

        /** @return the model tensors whose key passes {@code keys} (e.g. only the codebooks) */
        public Map<String, HostTensor> model(Predicate<String> keys) throws IOException {
            return collect(modelSource(), keys);
        }

        /** @return the header of the model file (names, dtypes, shapes), reading only its first bytes */
        public SafeTensors.Header modelHeader() throws IOException {
            try (InputStream in = dir.open(MODEL)) {
                return SafeTensors.readHeader(in);
            } catch (IOException e) {
                throw new CheckpointException(dir.uri() + ": unreadable " + MODEL + " header: " + e.getMessage(), e);
            }
        }

        /** @return the model file as a verifying stream of tensors (one pass per {@code read}) */
        public TensorSource modelSource() {
            return source(MODEL);
        }

        /** @return optimizer moments, or null if the checkpoint has none */
        public Map<String, HostTensor> optimizer() throws IOException {
            TensorSource s = optimizerSource();
            return s == null ? null : collect(s, k -> true);
        }

        /**
         * @return the optimizer file as a source of tensors, or null if there is none: verified stream
         *     when all of it is wanted, ranged reads of the wanted tensors when a part is ({@link #partSource})
         */
        public TensorSource optimizerSource() {
            return manifest.files().containsKey(OPTIMIZER) ? partSource(OPTIMIZER) : null;
        }

        /** @return a further safetensors file ({@link Contents#extra}) as {@link #partSource}, or null if absent */
        public TensorSource tensorSource(String file) {
            return manifest.files().containsKey(file) ? partSource(file) : null;
        }

        /**
         * A safetensors file read by what its reader wants: the header first, by a positioned read
         * ({@link CheckpointDir#openPositioned}); a reader that wants every tensor (an unsharded resume)
         * then gets the file as one verifying stream (size and SHA-256 checked, as {@link #modelSource});
         * one that wants a part (a rank of a sharded resume: its own moments) gets only those byte
         * ranges ({@link SafeTensors#readRanged}: in 1 MiB positioned reads, ranged GETs on object
         * stores), checked against the header (names, shapes, offsets) and the manifest's size, not its
         * SHA-256, which needs every byte. A header that cannot be read falls back to the verifying
         * stream, which names the checksum mismatch.
         */
        private TensorSource partSource(String name) {
            Manifest.FileEntry entry = manifest.files().get(name);
            return reader -> {
                var wanted = new java.util.concurrent.atomic.AtomicReference<Predicate<String>>();
                try (PositionedInput in = dir.openPositioned(name)) {
                    SafeTensors.readRanged(in, entry.bytes(), new TensorSource.Reader() {
                        @Override
                        public Predicate<String> begin(SafeTensors.Header header) {
                            Predicate<String> w = reader.begin(header);
                            wanted.set(w);
                            if (header.keys().stream().allMatch(w)) {
                                throw new WholeFile();
                            }
                            return w;
                        }

                        @Override
                        public void tensor(String key, HostTensor t) {
                            reader.tensor(key, t);
                        }

                        @Override
                        public void tensor(SafeTensors.Entry e, java.nio.ByteBuffer data) {
                            reader.tensor(e, data);
                        }
                    });
                    return;
                } catch (WholeFile whole) {
                    // read below, verified
                } catch (IOException e) {
                    if (wanted.get() != null) {
                        throw new CheckpointException(dir.uri() + ": " + name + ": " + e.getMessage(), e);
                    }
                    // the header did not parse: the verifying stream reports the checksum mismatch
                }
                Predicate<String> w = wanted.get();
                verified(dir, name, entry, in -> SafeTensors.read(in, w == null ? reader : new TensorSource.Reader() {
                    @Override
                    public Predicate<String> begin(SafeTensors.Header header) {
                        return w; // the reader saw this header already
                    }

                    @Override
                    public void tensor(String key, HostTensor t) {
                        reader.tensor(key, t);
                    }
                }));
            };
        }

        /** Thrown by {@link #partSource} when its reader wants every tensor. */
        private static final class WholeFile extends RuntimeException {
            WholeFile() {
                super(null, null, false, false);
            }
        }

        /** @return trainer state, or null */
        public JsonNode trainerState() throws IOException {
            if (!manifest.files().containsKey(TRAINER_STATE)) {
                return null;
            }
            byte[][] bytes = new byte[1][];
            verified(dir, TRAINER_STATE, manifest.files().get(TRAINER_STATE), in -> bytes[0] = in.readAllBytes());
            return JSON.readTree(bytes[0]);
        }

        /** @return the configuration bound to {@code type} */
        public <T> T config(Class<T> type) {
            return Configs.bind(manifest.config(), type, "");
        }

        private TensorSource source(String name) {
            Manifest.FileEntry entry = manifest.files().get(name);
            return reader -> verified(dir, name, entry, in -> SafeTensors.read(in, reader));
        }

        private static Map<String, HostTensor> collect(TensorSource source, Predicate<String> keys) throws IOException {
            Map<String, HostTensor> out = new LinkedHashMap<>();
            source.read(new TensorSource.Reader() {
                @Override
                public Predicate<String> begin(SafeTensors.Header header) {
                    header.keys().stream().filter(keys).forEach(k -> out.put(k, null)); // header order
                    return keys;
                }

                @Override
                public void tensor(String name, HostTensor t) {
                    out.put(name, t);
                }
            });
            return out;
        }
    }

    /**
     * Checks a checkpoint's manifest (format, version, listed files present); the files' checksums
     * are verified by the pass that reads them.
     *
     * @throws CheckpointException if it is not a complete checkpoint of a known format
     */
    public static Loaded open(CheckpointDir dir) throws IOException {
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
        if (m.files() == null || !m.files().containsKey(MODEL)) {
            throw new CheckpointException(dir.uri() + ": manifest lists no " + MODEL);
        }
        for (String name : m.files().keySet()) {
            if (!dir.exists(name)) {
                throw new CheckpointException(dir.uri() + ": " + name + " listed in the manifest is missing");
            }
        }
        return new Loaded(dir, m);
    }

    /**
     * Reads and verifies a checkpoint: manifest format and version, then the size and SHA-256 of
     * every listed file, in one streaming pass each (nothing is kept: memory stays bounded).
     *
     * @throws CheckpointException on any missing file or mismatch
     */
    public static Loaded read(CheckpointDir dir) throws IOException {
        Loaded l = open(dir);
        for (Map.Entry<String, Manifest.FileEntry> e : l.manifest().files().entrySet()) {
            verified(dir, e.getKey(), e.getValue(), in -> in.transferTo(OutputStream.nullOutputStream()));
        }
        return l;
    }

    /** Consumes the file's bytes. */
    interface Consumer {
        void accept(InputStream in) throws IOException;
    }

    /**
     * Opens {@code name}, lets {@code body} read it, reads whatever it left, then compares size
     * and SHA-256 with the manifest.
     */
    static void verified(CheckpointDir dir, String name, Manifest.FileEntry expected, Consumer body)
            throws IOException {
        MessageDigest md = ModelHashes.digest();
        long[] count = new long[1];
        try (InputStream raw = dir.open(name);
                InputStream in = new DigestInputStream(new BufferedInputStream(new FilterInputStream(raw) {
                    @Override
                    public int read() throws IOException {
                        int b = super.read();
                        if (b >= 0) {
                            count[0]++;
                        }
                        return b;
                    }

                    @Override
                    public int read(byte[] b, int off, int len) throws IOException {
                        int n = super.read(b, off, len);
                        if (n > 0) {
                            count[0] += n;
                        }
                        return n;
                    }
                }, 1 << 20), md)) {
            IOException failure = null;
            try {
                body.accept(in);
            } catch (IOException e) {
                failure = e; // a damaged file usually fails to parse: report the checksum mismatch
            }
            in.transferTo(OutputStream.nullOutputStream()); // hash what the reader did not need
            String sha = HexFormat.of().formatHex(md.digest());
            if (count[0] != expected.bytes()) {
                throw new CheckpointException(dir.uri() + ": " + name + " has " + count[0]
                        + " bytes, the manifest says " + expected.bytes() + " (truncated or altered)", failure);
            }
            if (!sha.equals(expected.sha256())) {
                throw new CheckpointException(dir.uri() + ": SHA-256 of " + name + " is " + sha
                        + ", the manifest says " + expected.sha256() + " (corrupted or altered)", failure);
            }
            if (failure != null) {
                throw failure;
            }
        }
    }

    /** @return hex SHA-256 of {@code bytes} */
    public static String sha256(byte[] bytes) {
        return ModelHashes.sha256(bytes);
    }

    interface Writer {
        void write(OutputStream out) throws IOException;
    }

    private static Manifest.FileEntry writeHashed(CheckpointDir dir, String name, Writer w) throws IOException {
        MessageDigest md = ModelHashes.digest();
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
