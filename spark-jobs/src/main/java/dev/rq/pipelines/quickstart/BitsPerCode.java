package dev.rq.pipelines.quickstart;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Bits per code per depth (stage 2: the transformer's negative log-likelihood of codes, in bits).
 *
 * @param perDepth bits per code of each depth
 */
record BitsPerCode(double[] perDepth) {

    /** @return the values of a JSON array (e.g. {@code bits_per_code} of {@code heldout.jsonl}) */
    static BitsPerCode of(JsonNode array) {
        double[] d = new double[array.size()];
        for (int i = 0; i < d.length; i++) {
            d[i] = array.get(i).asDouble();
        }
        return new BitsPerCode(d);
    }

    /** @return the mean over depths (NaN: none) */
    double mean() {
        return Arrays.stream(perDepth).average().orElse(Double.NaN);
    }

    /** @return {@code 5.12 / 6.01 / …} */
    String perDepthText() {
        List<String> p = new ArrayList<>();
        for (double x : perDepth) {
            p.add(String.format(Locale.ROOT, "%.2f", x));
        }
        return String.join(" / ", p);
    }

    /** @return log2 of a usage perplexity: the entropy of the code distribution in bits */
    static double ofPerplexity(double perplexity) {
        return Math.log(perplexity) / Math.log(2);
    }

    /** @return log2 K: the bits per code of a uniform guess among K codes */
    static double uniform(int codebookSize) {
        return Math.log(codebookSize) / Math.log(2);
    }
}
