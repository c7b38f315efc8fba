package dev.rq.jobs.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.model.checkpoint.CheckpointDir;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * The layout of a training run under its run URI (any Hadoop FileSystem):
 *
 * <pre>
 * run.json                      kind, config hash and config of the run (written once)
 * checkpoints/step-00000100/    committed checkpoints (manifest.json last, checksummed)
 * checkpoints/step-00000100.tmp/  a checkpoint being written (never read)
 * metrics.jsonl                 one JSON object per logged step (driver)
 * plots/loss.png, plots/codebook.png, plots/recon-step-00000100.png (RQ-VAE),
 *   plots/samples-step-00000100.png (RQ-Transformer)
 * heldout.jsonl                 RQ-Transformer: held-out bits per code at every checkpoint
 * report.html                   the run's report page ({@link RunReport}), refreshed at every checkpoint
 * </pre>
 *
 * A checkpoint is committed by renaming its {@code .tmp} directory after every file, manifest
 * last, was written. The latest checkpoint is the highest step whose directory is committed and
 * whose manifest exists; {@link #latest} verifies it when loading, so a half-written or corrupt
 * checkpoint is never used as the latest.
 */
public final class RunDirectory {

    static final String RUN_JSON = "run.json";
    static final String CHECKPOINTS = "checkpoints";
    static final String METRICS = "metrics.jsonl";
    static final String PLOTS = "plots";
    private static final ObjectMapper JSON = new ObjectMapper();

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
     * Creates {@code run.json} for a new run, or checks that an existing run has the same config.
     *
     * @return true if the run already existed (resume)
     * @throws IllegalStateException if the run URI holds a run with a different config
     */
    public boolean claim(String kind, String configHash, JsonNode config) throws IOException {
        Path p = path(RUN_JSON);
        if (fs.exists(p)) {
            JsonNode existing;
            try (InputStream in = fs.open(p)) {
                existing = JSON.readTree(in);
            }
            String oldHash = existing.path("config_hash").asText();
            if (!existing.path("kind").asText().equals(kind) || !oldHash.equals(configHash)) {
                throw new IllegalStateException("run directory " + uri + " holds a " + existing.path("kind").asText()
                        + " run with a different configuration (config hash " + oldHash.substring(0, Math.min(12, oldHash.length()))
                        + ", this command resolves to " + configHash.substring(0, 12) + "); use another --out, or"
                        + " rerun with the same config to resume. Nothing was overwritten.");
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
        try (OutputStream out = fs.create(path(RUN_JSON + ".tmp"), true)) {
            out.write(JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(n));
        }
        if (!fs.rename(path(RUN_JSON + ".tmp"), p)) {
            throw new IOException("cannot commit " + p);
        }
        return false;
    }

    /** @return committed checkpoint steps, ascending */
    public List<Long> committedSteps() throws IOException {
        Path dir = path(CHECKPOINTS);
        List<Long> steps = new ArrayList<>();
        if (!fs.exists(dir)) {
            return steps;
        }
        for (FileStatus s : fs.listStatus(dir)) {
            String name = s.getPath().getName();
            if (s.isDirectory() && name.matches("step-\\d{8}") && fs.exists(new Path(s.getPath(), Checkpoints.MANIFEST))) {
                steps.add(Long.parseLong(name.substring(5)));
            }
        }
        steps.sort(Comparator.naturalOrder());
        return steps;
    }

    /** @return the latest committed checkpoint, if any */
    public Optional<CheckpointDir> latest() throws IOException {
        List<Long> s = committedSteps();
        return s.isEmpty() ? Optional.empty() : Optional.of(checkpoint(s.get(s.size() - 1)));
    }

    /** @return the committed checkpoint directory of {@code step} */
    public CheckpointDir checkpoint(long step) {
        return new Dir(path(CHECKPOINTS + "/" + name(step)));
    }

    static String name(long step) {
        return String.format("step-%08d", step);
    }

    /** @return a fresh temporary directory for writing the checkpoint of {@code step} */
    public CheckpointDir beginCheckpoint(long step) throws IOException {
        Path tmp = path(CHECKPOINTS + "/" + name(step) + ".tmp");
        fs.delete(tmp, true);
        fs.mkdirs(tmp);
        return new Dir(tmp);
    }

    /**
     * Commits a checkpoint written with {@link #beginCheckpoint} (rename), then deletes all but the
     * newest {@code keep} committed checkpoints.
     */
    public void commitCheckpoint(long step, int keep) throws IOException {
        Path tmp = path(CHECKPOINTS + "/" + name(step) + ".tmp");
        Path fin = path(CHECKPOINTS + "/" + name(step));
        if (!fs.exists(new Path(tmp, Checkpoints.MANIFEST))) {
            throw new CheckpointException("checkpoint " + tmp + " has no manifest; not committing");
        }
        fs.delete(fin, true);
        if (!fs.rename(tmp, fin)) {
            throw new IOException("cannot commit checkpoint " + tmp + " -> " + fin);
        }
        List<Long> steps = committedSteps();
        for (int i = 0; i < steps.size() - keep; i++) {
            fs.delete(path(CHECKPOINTS + "/" + name(steps.get(i))), true);
        }
    }

    /** Writes a whole small file (e.g. a PNG) atomically enough for plots. */
    public void writeFile(String relative, byte[] bytes) throws IOException {
        Path tmp = path(relative + ".tmp");
        try (OutputStream out = fs.create(tmp, true)) {
            out.write(bytes);
        }
        Path fin = path(relative);
        fs.delete(fin, false);
        fs.rename(tmp, fin);
    }

    /** @return the lines of a text file below the root, or an empty list */
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

    /** A checkpoint directory on the run's file system. */
    final class Dir implements CheckpointDir {
        private final Path dir;

        Dir(Path dir) {
            this.dir = dir;
        }

        @Override
        public OutputStream create(String name) throws IOException {
            return fs.create(new Path(dir, name), true);
        }

        @Override
        public InputStream open(String name) throws IOException {
            return fs.open(new Path(dir, name));
        }

        @Override
        public boolean exists(String name) throws IOException {
            return fs.exists(new Path(dir, name));
        }

        @Override
        public String uri() {
            return dir.toString();
        }
    }

    /** @return whether {@code uri} names an existing path */
    static boolean exists(String uri, Configuration conf) throws IOException {
        Path p = new Path(uri);
        return p.getFileSystem(conf).exists(p);
    }
}
