package dev.rq.pipelines.quickstart;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.io.HadoopDir;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Stage timings of a quickstart run, kept in {@code <out>/quickstart.json} across reruns: for
 * every stage the outcome of this invocation ({@code ran}, {@code resumed}, {@code skipped},
 * {@code failed}) with its wall time, and the wall time of the last invocation in which the stage
 * did its work.
 */
final class StageTimer {

    static final String FILE = "quickstart.json";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * One stage of this invocation.
     *
     * @param name stage name
     * @param status how the stage ended
     * @param seconds wall time in this invocation
     * @param workSeconds wall time of the last invocation that did the stage's work (this one if it ran)
     * @param note what happened
     */
    record Stage(String name, Outcome.Status status, double seconds, double workSeconds, String note) {}

    private final HadoopDir out;
    private final ObjectNode state;
    private final List<Stage> stages = new ArrayList<>();

    private StageTimer(HadoopDir out, ObjectNode state) {
        this.out = out;
        this.state = state;
    }

    /** Loads {@code <out>/quickstart.json} (or starts empty). */
    static StageTimer open(HadoopDir out) throws IOException {
        ObjectNode s = JSON.createObjectNode();
        if (out.exists(FILE)) {
            try (InputStream in = out.open(FILE)) {
                JsonNode n = JSON.readTree(in);
                if (n instanceof ObjectNode o) {
                    s = o;
                }
            } catch (IOException e) {
                // a damaged state file only loses old timings
            }
        }
        if (!s.has("stages")) {
            s.putObject("stages");
        }
        return new StageTimer(out, s);
    }

    /** @return wall seconds of the last invocation in which {@code stage} did its work, or NaN */
    double lastWorkSeconds(String stage) {
        JsonNode n = state.path("stages").path(stage).path("work_seconds");
        return n.isNumber() ? n.asDouble() : Double.NaN;
    }

    /** Records a stage outcome and saves the file. */
    Stage record(String name, Outcome.Status status, double seconds, String note) throws IOException {
        double work = status.worked() ? seconds : lastWorkSeconds(name);
        Stage st = new Stage(name, status, seconds, work, note);
        stages.add(st);
        ObjectNode n = ((ObjectNode) state.get("stages")).putObject(name);
        n.put("status", status.label());
        n.put("seconds", round(seconds));
        if (!Double.isNaN(work)) {
            n.put("work_seconds", round(work));
        }
        n.put("note", note);
        n.put("finished_at", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
        save();
        return st;
    }

    /** Stores a value at the top level of the state file (e.g. the PSNR). */
    void put(String key, JsonNode value) throws IOException {
        state.set(key, value);
        save();
    }

    private void save() throws IOException {
        try (OutputStream o = out.create(FILE)) {
            o.write(JSON.writeValueAsBytes(state));
        }
    }

    /** @return stages of this invocation, in order */
    List<Stage> stages() {
        return List.copyOf(stages);
    }

    /** @return stage name → seconds of this invocation */
    Map<String, Double> seconds() {
        Map<String, Double> m = new LinkedHashMap<>();
        stages.forEach(s -> m.put(s.name(), s.seconds()));
        return m;
    }

    /** @return {@code 1m05s} or {@code 4.2 s} */
    static String duration(double seconds) {
        if (seconds < 60) {
            return String.format(Locale.ROOT, "%.1f s", seconds);
        }
        long s = Math.round(seconds);
        return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
    }

    static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }
}
