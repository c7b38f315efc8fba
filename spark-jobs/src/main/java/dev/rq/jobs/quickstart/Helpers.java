package dev.rq.jobs.quickstart;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.rq.model.config.Configs;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Small formatting, JSON and arithmetic helpers shared by the quickstart stages and its report. */
final class Helpers {

    /** Pretty-printing mapper of {@code eval.json}, the manifests read back and the report's JSON. */
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private Helpers() {}

    /** @return {@code 1m05s} or {@code 4.2 s} */
    static String minutes(double seconds) {
        if (seconds < 60) {
            return String.format(Locale.ROOT, "%.1f s", seconds);
        }
        long s = Math.round(seconds);
        return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
    }

    /** @return the config as pretty JSON (for the report) */
    static String configJson(Object config) {
        try {
            return JSON.writeValueAsString(Configs.toTree(config));
        } catch (IOException e) {
            return Configs.toCanonicalJson(config);
        }
    }

    static double[] doubles(JsonNode array) {
        double[] d = new double[array.size()];
        for (int i = 0; i < d.length; i++) {
            d[i] = array.get(i).asDouble();
        }
        return d;
    }

    static List<Integer> ints(JsonNode array) {
        List<Integer> out = new ArrayList<>();
        array.forEach(v -> out.add(v.asInt()));
        return out;
    }

    static double mean(double[] v) {
        return java.util.Arrays.stream(v).average().orElse(Double.NaN);
    }

    static double log2(double v) {
        return Math.log(v) / Math.log(2);
    }

    /** @return {@code 5.12 / 6.01 / …} */
    static String bitsList(double[] v) {
        List<String> p = new ArrayList<>();
        for (double x : v) {
            p.add(String.format(Locale.ROOT, "%.2f", x));
        }
        return String.join(" / ", p);
    }
}
