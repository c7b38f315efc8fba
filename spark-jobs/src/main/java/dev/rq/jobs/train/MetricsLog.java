package dev.rq.jobs.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;

/**
 * A run's step metrics as rolled files, readable while the run goes on any file system: an object
 * store shows a file only when it is closed, so one long-lived {@code metrics.jsonl} stream would
 * stay invisible (and be lost with the driver) until the end.
 *
 * <pre>
 * metrics/steps-00000001-00000100.jsonl   one JSON object per logged step, steps 1..100
 * metrics/steps-00000101-00000137.jsonl   the next part
 * </pre>
 *
 * The driver appends lines in memory and writes them as a new part, in one piece, when a
 * checkpoint is committed, every {@link #ROLL_SECONDS} seconds, and at the end. On (re)submission
 * from step {@code S} the log keeps steps ≤ S only: later parts are deleted and a part that
 * straddles S is rewritten without the later lines, so a retried segment is never logged twice.
 * {@link #read} concatenates the parts in step order (one line per step: a part rewritten while
 * its original still existed cannot log a step twice), after a legacy {@code metrics.jsonl}.
 */
final class MetricsLog implements AutoCloseable {

    /** Folder of the parts. */
    static final String DIR = "metrics";
    /** The single file of runs written before the parts. */
    static final String LEGACY = "metrics.jsonl";
    /** A pending line is written at most this long after it arrived (when the next line arrives). */
    static final long ROLL_SECONDS = 60;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern PART = Pattern.compile("steps-(\\d{8,})-(\\d{8,})\\.jsonl");

    private final RunDirectory run;
    private final List<String> pending = new ArrayList<>();
    private long firstPending = -1;
    private long lastPending = -1;
    private long lastRoll = System.nanoTime();

    /** Opens the log of {@code run}, keeping only steps ≤ {@code fromStep}. */
    MetricsLog(RunDirectory run, long fromStep) throws IOException {
        this.run = run;
        for (FileStatus st : parts(run)) {
            Matcher m = PART.matcher(st.getPath().getName());
            m.matches();
            long first = Long.parseLong(m.group(1));
            long last = Long.parseLong(m.group(2));
            if (first > fromStep) {
                run.fs().delete(st.getPath(), false);
            } else if (last > fromStep) {
                List<String> keep = new ArrayList<>();
                for (String l : run.readLines(DIR + "/" + st.getPath().getName())) {
                    if (step(l) <= fromStep) {
                        keep.add(l);
                    }
                }
                if (!keep.isEmpty()) {
                    write(step(keep.get(0)), step(keep.get(keep.size() - 1)), keep);
                }
                run.fs().delete(st.getPath(), false);
            }
        }
        List<String> legacy = run.readLines(LEGACY);
        if (!legacy.isEmpty() && step(legacy.get(legacy.size() - 1)) > fromStep) {
            List<String> keep = legacy.stream().filter(l -> step(l) <= fromStep).toList();
            run.writeFile(LEGACY, (String.join("\n", keep) + (keep.isEmpty() ? "" : "\n"))
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Adds the line of {@code step}; rolls when the oldest pending line is {@link #ROLL_SECONDS} old. */
    synchronized void append(long step, String line) throws IOException {
        if (pending.isEmpty()) {
            firstPending = step;
        }
        pending.add(line);
        lastPending = step;
        if (System.nanoTime() - lastRoll > ROLL_SECONDS * 1_000_000_000L) {
            roll();
        }
    }

    /** Writes the pending lines as a new part (no-op when there are none). */
    synchronized void roll() throws IOException {
        lastRoll = System.nanoTime();
        if (pending.isEmpty()) {
            return;
        }
        write(firstPending, lastPending, pending);
        pending.clear();
    }

    private void write(long first, long last, List<String> lines) throws IOException {
        String name = String.format(Locale.ROOT, "%s/steps-%08d-%08d.jsonl", DIR, first, last);
        run.writeFile(name, (String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8));
    }

    /** Rolls the pending lines. */
    @Override
    public synchronized void close() throws IOException {
        roll();
    }

    /** @return every logged line of {@code run} in step order, one per step */
    static List<String> read(RunDirectory run) throws IOException {
        TreeMap<Long, String> bySteps = new TreeMap<>();
        for (String l : run.readLines(LEGACY)) {
            bySteps.putIfAbsent(step(l), l);
        }
        for (FileStatus st : parts(run)) {
            for (String l : run.readLines(DIR + "/" + st.getPath().getName())) {
                bySteps.putIfAbsent(step(l), l);
            }
        }
        return new ArrayList<>(bySteps.values());
    }

    /** @return the part files, by first step */
    private static List<FileStatus> parts(RunDirectory run) throws IOException {
        Path dir = run.path(DIR);
        List<FileStatus> out = new ArrayList<>();
        if (!run.fs().exists(dir)) {
            return out;
        }
        for (FileStatus st : run.fs().listStatus(dir)) {
            if (st.isFile() && PART.matcher(st.getPath().getName()).matches()) {
                out.add(st);
            }
        }
        out.sort((a, b) -> a.getPath().getName().compareTo(b.getPath().getName()));
        return out;
    }

    private static long step(String line) {
        try {
            return JSON.readTree(line).path("step").asLong();
        } catch (IOException e) {
            throw new IllegalStateException("bad metrics line: " + line, e);
        }
    }
}
