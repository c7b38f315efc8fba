package dev.rq.jobs.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import dev.rq.io.HadoopDir;
import dev.rq.model.checkpoint.CheckpointDir;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.Configs;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.UnaryOperator;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.slf4j.LoggerFactory;
import org.slf4j.Logger;

/**
 * The layout of a training run under its run URI (any Hadoop FileSystem: local, HDFS, S3A, …):
 *
 * <pre>
 * run.json                         kind, config hash and config of the run (written once)
 * config.yaml                      the resolved config, every default and override applied (written once)
 * checkpoints/step-00000100/       a checkpoint: its files written in place, manifest.json last
 * metrics/steps-00000001-00000100.jsonl   rolled metric parts, one JSON object per logged step ({@link MetricsLog})
 * plots/loss.png, plots/codebook.png, plots/recon-step-00000100.png (RQ-VAE),
 *   plots/samples-step-00000100.png (RQ-Transformer)
 * heldout.jsonl                    RQ-Transformer: held-out bits per code at every checkpoint
 * report.html                      the run's report page ({@link RunReport}), refreshed at every checkpoint
 * </pre>
 *
 * <p>Checkpoints never depend on a directory rename (a copy on object stores): {@link
 * #beginCheckpoint} clears {@code step-N/} (manifest first), the stage writes every file in place
 * in one piece ({@link HadoopDir#createFile}), and {@code manifest.json}, which lists every file's
 * size and SHA-256, is written last: it is the commit. A writer that dies before the manifest
 * leaves a torn folder (no manifest, or files missing); {@link #latest} skips it with a warning
 * naming it, and resumes from the newest checkpoint whose manifest lists only present files of the
 * listed sizes (one listing per checkpoint); loading then checks every SHA-256 and a checkpoint
 * that fails is skipped in turn ({@link RankTask}). Pruning deletes a checkpoint's manifest
 * before its files, so a pruned checkpoint is never half-valid.
 */
public final class RunDirectory {
    private static final Logger LOG = LoggerFactory.getLogger(RunDirectory.class);

    static final String RUN_JSON = "run.json";
    static final String CONFIG_YAML = "config.yaml";
    static final String CHECKPOINTS = "checkpoints";
    static final String PLOTS = "plots";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory()
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER));

    private final String uri;
    private final Path root;
    private final FileSystem fs;

    public RunDirectory(String uri, Configuration conf) throws IOException {
        this.uri = uri;
        this.root = new Path(uri);
        this.fs = root.getFileSystem(conf);
    }

    /** @return the run URI */
    public String uri() {
        return uri;
    }

    /** @return the file system of the run */
    public FileSystem fs() {
        return fs;
    }

    /** @return a path below the run root */
    public Path path(String relative) {
        return new Path(root, relative);
    }

    /**
     * Creates {@code run.json} and {@code config.yaml} for a new run, or checks that an existing run
     * has the same config; without a re-resolution ({@link #claim(String, String, JsonNode,
     * UnaryOperator)}) only equal hashes resume.
     *
     * @return true if the run already existed (resume)
     * @throws RunConflictException if the run URI holds a run with a different config
     */
    public boolean claim(String kind, String configHash, JsonNode config) throws IOException {
        return claim(kind, configHash, config, stored -> stored);
    }

    /**
     * Creates {@code run.json} and {@code config.yaml} for a new run, or checks that an existing run
     * is the same run. A run resumes when its stored hash equals {@code configHash}, or when its
     * stored config, re-resolved by {@code resolve} (the current version's binding: keys added since
     * get their defaults) and with the command's values of the {@link #RESULT_NEUTRAL} settings, hashes to
     * {@code configHash}: the same run written by an older version or resumed with another such setting.
     * Then one INFO line names the keys added since with their defaults (or the switched settings), and {@code run.json} is
     * kept as it is (its hash stays the one the run started with). Any other difference is refused,
     * naming the first differing keys (dotted, old → new).
     *
     * @param resolve re-resolves a stored config tree ({@link TrainingStage#resolve})
     * @return true if the run already existed (resume)
     * @throws RunConflictException if the run URI holds a run of another kind or config
     */
    public boolean claim(String kind, String configHash, JsonNode config, UnaryOperator<JsonNode> resolve)
            throws IOException {
        Path p = path(RUN_JSON);
        if (fs.exists(p)) {
            JsonNode existing;
            try (InputStream in = fs.open(p)) {
                existing = JSON.readTree(in);
            }
            String oldHash = existing.path("config_hash").asText();
            String oldKind = existing.path("kind").asText();
            if (!oldKind.equals(kind)) {
                throw conflict(oldKind, oldHash, configHash, "it is a " + oldKind + " run, this command trains "
                        + kind);
            }
            if (!oldHash.equals(configHash)) {
                checkSameRun(oldKind, oldHash, configHash, existing.path("config"), config, resolve);
            }
            if (!fs.exists(path(CONFIG_YAML))) { // runs started before config.yaml existed
                writeFile(CONFIG_YAML, YAML.writeValueAsBytes(config));
            }
            return true;
        }
        if (fs.exists(root) && fs.listStatus(root).length > 0) {
            throw new IllegalStateException("run directory " + uri + " is not empty but has no " + RUN_JSON
                    + "; refusing to write a run into it");
        }
        ObjectNode n = JSON.createObjectNode();
        n.put("kind", kind);
        n.put("config_hash", configHash);
        n.set("config", config);
        writeFile(CONFIG_YAML, YAML.writeValueAsBytes(config));
        writeFile(RUN_JSON, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(n)); // last: claims the run
        return false;
    }

    /**
     * @param dotted a config key, e.g. {@code train.allreduce_order}
     * @return whether the run's stored config ({@code run.json}) holds the key: false for a run started
     *     by an rq version without it (or no run)
     */
    public boolean storedConfigHas(String dotted) throws IOException {
        Path p = path(RUN_JSON);
        if (!fs.exists(p)) {
            return false;
        }
        JsonNode node;
        try (InputStream in = fs.open(p)) {
            node = JSON.readTree(in).path("config");
        }
        for (String part : dotted.split("\\.")) {
            node = node.path(part);
        }
        return !node.isMissingNode();
    }

    /** Runs whose upgrade re-resolution this JVM has already logged: one INFO line per run and version. */
    private static final java.util.Set<String> UPGRADE_REPORTED = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /**
     * Settings that change how a run computes but not its results (bit for bit), so a run resumes with
     * another value: {@code train.shard_optimizer_state} (docs/training.md "Sharded optimizer state").
     */
    static final List<String> RESULT_NEUTRAL = List.of("train.shard_optimizer_state");

    /** Keys named in a refusal; the rest are counted. */
    static final int DIFFS_SHOWN = 5;

    /**
     * Returns when {@code stored}, re-resolved, hashes to {@code configHash} (logging the keys added
     * since); otherwise throws, naming the differing keys.
     */
    private void checkSameRun(String kind, String oldHash, String configHash, JsonNode stored, JsonNode config,
            UnaryOperator<JsonNode> resolve) {
        if (!stored.isObject()) {
            throw conflict(kind, oldHash, configHash, RUN_JSON + " holds no config");
        }
        JsonNode resolved;
        try {
            resolved = resolve.apply(stored.deepCopy());
        } catch (ConfigException e) {
            throw conflict(kind, oldHash, configHash, "its stored config does not resolve with this version: "
                    + e.getMessage());
        }
        List<String> switched = new ArrayList<>();
        for (String key : RESULT_NEUTRAL) { // the command's value counts: it does not change the results
            String[] path = key.split("\\.");
            JsonNode parent = resolved;
            for (int i = 0; i < path.length - 1 && parent != null; i++) {
                parent = parent.get(path[i]);
            }
            JsonNode want = config;
            for (int i = 0; i < path.length && want != null; i++) {
                want = want.get(path[i]);
            }
            JsonNode had = parent == null ? null : parent.get(path[path.length - 1]);
            if (parent instanceof ObjectNode o && had != null && want != null && !same(had, want)) {
                switched.add(key + ": " + text(had) + " → " + text(want));
                o.set(path[path.length - 1], want.deepCopy());
            }
        }
        List<String> diffs = new ArrayList<>();
        diff(stored, resolved, config, "", diffs);
        if (diffs.isEmpty() && Configs.hash(resolved).equals(configHash)) {
            List<String> added = new ArrayList<>();
            added(stored, resolved, "", added);
            if (!UPGRADE_REPORTED.add(uri + " " + oldHash + " " + configHash)) {
                return; // already said in this JVM (train-sid claims the run before TrainingJob does)
            }
            if (!switched.isEmpty()) {
                LOG.info("run {} resumes with {} (a setting that does not change the results; run.json keeps the"
                        + " run's config)", uri, String.join(", ", switched));
            }
            if (!added.isEmpty() || switched.isEmpty()) {
                LOG.info("run {} was started by an older rq version (config hash {}): its config re-resolves to this"
                        + " command's; resuming. Keys added since, at their defaults: {}", uri, abbrev(oldHash),
                        added.isEmpty() ? "none (only the encoding differs)" : String.join(", ", added));
            }
            return;
        }
        String shown = diffs.isEmpty() ? "the resolved configs differ" // e.g. a number's type only
                : String.join("; ", diffs.subList(0, Math.min(DIFFS_SHOWN, diffs.size())))
                        + (diffs.size() > DIFFS_SHOWN ? "; and " + (diffs.size() - DIFFS_SHOWN) + " more" : "");
        throw conflict(kind, oldHash, configHash, shown);
    }

    private RunConflictException conflict(String kind, String oldHash, String configHash, String why) {
        return new RunConflictException("run directory " + uri + " holds a " + kind + " run with a different"
                + " configuration (" + why + "; config hash " + abbrev(oldHash) + ", this command resolves to "
                + abbrev(configHash) + "); use another --out, or rerun with the same config to resume. Nothing was"
                + " overwritten.");
    }

    private static String abbrev(String hash) {
        return hash.substring(0, Math.min(12, hash.length()));
    }

    /**
     * Appends {@code path: old → new} for every leaf where the re-resolved stored config {@code
     * resolved} and the command's {@code config} differ, in key order ({@code stored} is the stored
     * tree, for saying that a key was not in it).
     */
    static void diff(JsonNode stored, JsonNode resolved, JsonNode config, String path, List<String> out) {
        if (resolved != null && config != null && resolved.isObject() && config.isObject()) {
            java.util.TreeSet<String> keys = new java.util.TreeSet<>();
            resolved.fieldNames().forEachRemaining(keys::add);
            config.fieldNames().forEachRemaining(keys::add);
            for (String k : keys) {
                diff(stored == null ? null : stored.get(k), resolved.get(k), config.get(k),
                        path.isEmpty() ? k : path + "." + k, out);
            }
        } else if (!same(resolved, config)) {
            String old = stored == null && resolved != null ? "not in the stored config (default " + text(resolved) + ")"
                    : text(resolved);
            out.add(path + ": " + old + " → " + text(config));
        }
    }

    /** Appends {@code path=default} for every leaf of {@code resolved} that {@code stored} lacks. */
    static void added(JsonNode stored, JsonNode resolved, String path, List<String> out) {
        if (stored != null && stored.isObject() && resolved.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = resolved.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                added(stored.get(e.getKey()), e.getValue(), path.isEmpty() ? e.getKey() : path + "." + e.getKey(),
                        out);
            }
        } else if (stored == null) {
            out.add(path + "=" + text(resolved));
        }
    }

    /** Equal trees, numbers by value (a stored 1000 and a resolved 1000L are the same). */
    private static boolean same(JsonNode a, JsonNode b) {
        if (a == null || b == null) {
            return a == b;
        }
        if (a.isNumber() && b.isNumber()) {
            return a.decimalValue().compareTo(b.decimalValue()) == 0;
        }
        return a.equals(b);
    }

    private static String text(JsonNode n) {
        return n == null ? "absent" : n.toString();
    }

    /** @return steps whose checkpoint folder holds a manifest (not verified), ascending */
    public List<Long> committedSteps() throws IOException {
        List<Long> steps = new ArrayList<>();
        for (long s : stepFolders()) {
            if (fs.exists(new Path(dir(s), Checkpoints.MANIFEST))) {
                steps.add(s);
            }
        }
        return steps;
    }

    /** @return every {@code step-N} folder's step, ascending */
    private List<Long> stepFolders() throws IOException {
        Path dir = path(CHECKPOINTS);
        List<Long> steps = new ArrayList<>();
        if (!fs.exists(dir)) {
            return steps;
        }
        for (FileStatus s : fs.listStatus(dir)) {
            String name = s.getPath().getName();
            if (s.isDirectory() && name.matches("step-\\d{8}")) {
                steps.add(Long.parseLong(name.substring(5)));
            }
        }
        steps.sort(Comparator.naturalOrder());
        return steps;
    }

    /**
     * @return the steps of the complete checkpoints, newest first: manifest present and readable,
     *     every listed file present with its listed size. Torn ones are skipped with a warning.
     */
    public List<Long> completeSteps() throws IOException {
        List<Long> all = stepFolders();
        List<Long> out = new ArrayList<>();
        for (int i = all.size() - 1; i >= 0; i--) {
            String why = tornReason(all.get(i));
            if (why == null) {
                out.add(all.get(i));
            } else {
                LOG.warn("skipping torn checkpoint {}: {}", dir(all.get(i)), why);
            }
        }
        return out;
    }

    /** @return the newest complete checkpoint ({@link #completeSteps}), if any */
    public Optional<CheckpointDir> latest() throws IOException {
        List<Long> s = completeSteps();
        return s.isEmpty() ? Optional.empty() : Optional.of(checkpoint(s.get(0)));
    }

    /** @return why checkpoint {@code step} is torn, or null if its manifest and files are complete */
    String tornReason(long step) throws IOException {
        Path d = dir(step);
        JsonNode files;
        try (InputStream in = fs.open(new Path(d, Checkpoints.MANIFEST))) {
            files = JSON.readTree(in).path("files");
        } catch (FileNotFoundException e) {
            return "no " + Checkpoints.MANIFEST + " (the writer stopped before the commit)";
        } catch (IOException e) {
            return "unreadable " + Checkpoints.MANIFEST + " (" + e.getMessage() + ")";
        }
        Map<String, Long> sizes = new HashMap<>();
        for (FileStatus st : fs.listStatus(d)) {
            sizes.put(st.getPath().getName(), st.getLen());
        }
        if (!files.isObject() || !files.has(Checkpoints.MODEL)) {
            return Checkpoints.MANIFEST + " lists no " + Checkpoints.MODEL;
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = files.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            Long size = sizes.get(e.getKey());
            if (size == null) {
                return e.getKey() + " is missing";
            }
            if (size != e.getValue().path("bytes").asLong(-1)) {
                return e.getKey() + " has " + size + " bytes, the manifest says " + e.getValue().path("bytes");
            }
        }
        return null;
    }

    /**
     * Checks every file of checkpoint {@code step} against the size and SHA-256 in its manifest
     * ({@link Checkpoints#read}: streaming, memory is one buffer whatever the checkpoint's size).
     *
     * @throws CheckpointException naming the first torn or altered file
     */
    public void verify(long step) throws IOException {
        String torn = tornReason(step);
        if (torn != null) {
            throw new CheckpointException(dir(step) + ": " + torn);
        }
        Checkpoints.read(checkpoint(step));
    }

    /** @return the checkpoint directory of {@code step} */
    public CheckpointDir checkpoint(long step) throws IOException {
        return new HadoopDir(dir(step), fs.getConf());
    }

    private Path dir(long step) {
        return path(CHECKPOINTS + "/" + name(step));
    }

    static String name(long step) {
        return String.format("step-%08d", step);
    }

    /**
     * @return the empty folder {@code checkpoints/step-N/} for writing the checkpoint of {@code step}
     *     (a torn or older checkpoint of that step is deleted first, its manifest before its files)
     */
    public CheckpointDir beginCheckpoint(long step) throws IOException {
        delete(step);
        return checkpoint(step);
    }

    /**
     * Completes a checkpoint written into {@link #beginCheckpoint}: fails unless its manifest (the
     * commit, written last by {@link Checkpoints#write}) is there and lists only present files,
     * then deletes all but the newest {@code keep} complete checkpoints and every torn one older
     * than this one.
     */
    public void commitCheckpoint(long step, int keep) throws IOException {
        String torn = tornReason(step);
        if (torn != null) {
            throw new CheckpointException("checkpoint " + dir(step) + " is incomplete (" + torn + "); not committed");
        }
        int kept = 0;
        List<Long> all = stepFolders();
        for (int i = all.size() - 1; i >= 0; i--) {
            long s = all.get(i);
            if (s > step) {
                continue; // newer folders: torn leftovers of a failed attempt, rewritten when training gets there
            }
            if (s == step || (kept < keep && tornReason(s) == null)) {
                kept++;
            } else {
                delete(s);
            }
        }
    }

    /** Deletes checkpoint {@code step}: its manifest first (from then on it is torn), then the folder. */
    private void delete(long step) throws IOException {
        Path d = dir(step);
        fs.delete(new Path(d, Checkpoints.MANIFEST), false);
        fs.delete(d, true);
    }

    /** Writes a whole small file in one piece ({@link HadoopDir#createFile}). */
    public void writeFile(String relative, byte[] bytes) throws IOException {
        Path p = path(relative);
        if (p.getParent() != null) {
            fs.mkdirs(p.getParent());
        }
        try (OutputStream out = HadoopDir.createFile(fs, p)) {
            out.write(bytes);
        }
    }

    /** @return the non-blank lines of a text file below the root, or an empty list */
    public List<String> readLines(String relative) throws IOException {
        Path p = path(relative);
        if (!fs.exists(p)) {
            return new ArrayList<>();
        }
        try (InputStream in = fs.open(p)) {
            String s = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            List<String> out = new ArrayList<>();
            for (String l : s.split("\n")) {
                if (!l.isBlank()) {
                    out.add(l);
                }
            }
            return out;
        }
    }

    /** @return every logged step record of the run, in step order ({@link MetricsLog#read}) */
    public List<String> metricsLines() throws IOException {
        return MetricsLog.read(this);
    }

    /** @return whether {@code uri} names an existing path */
    static boolean exists(String uri, Configuration conf) throws IOException {
        Path p = new Path(uri);
        return p.getFileSystem(conf).exists(p);
    }
}
