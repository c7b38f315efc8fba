package dev.rq.jobs.sid;

import dev.rq.model.sid.SidCoder;
import dev.rq.tables.SidManifest;
import dev.rq.tables.SidTable;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.functions;

/**
 * The quality statistics of a semantic-ID table (Spark aggregations; only per-code and per-group
 * counts reach the driver):
 *
 * <ul>
 *   <li>per level: used fraction (codes with at least one item / K) and perplexity exp(H) of the code
 *       histogram over all items of the ID table;
 *   <li>collisions of {@code sid} before the dedup level: distinct sids / items, the fraction of
 *       items in a group of two or more, the largest group;
 *   <li>reconstruction MSE and cosine similarity, means over the items reconstructed in this run
 *       (one in {@code --recon-sample} of the encoded items, by a hash of the id);
 *   <li>prefix purity for k = 1..D (with a label column): Σ over prefix groups of the count of the
 *       group's most common label, divided by the labelled items — the fraction of items that share
 *       their label with the majority of the items sharing their first k codes.
 * </ul>
 */
final class SidStatistics {

    private SidStatistics() {}

    /**
     * @param histogram [level][code] items of the ID table (all items)
     * @param reconstruction {mean MSE, mean cosine, items} of this run's sampled reconstructions ({@link
     *     WorkSummary#reconstruction})
     * @param encoded this run's encoded work rows (sid, [label]), for the prefix purity
     */
    static SidManifest.Statistics of(long[][] hist, double[] reconstruction, Dataset<Row> encoded, SidCoder coder,
            boolean labels) {
        List<Double> used = new ArrayList<>();
        List<Double> perplexity = new ArrayList<>();
        for (int d = 0; d < coder.depth(); d++) {
            double total = 0;
            int usedCodes = 0;
            for (long h : hist[d]) {
                total += h;
                usedCodes += h > 0 ? 1 : 0;
            }
            double entropy = 0;
            for (long h : hist[d]) { // in code order: the same sum whatever the partitioning
                if (h > 0) {
                    double p = h / total;
                    entropy -= p * Math.log(p);
                }
            }
            used.add(usedCodes / (double) coder.codebookSize(d));
            perplexity.add(Math.exp(entropy));
        }
        double mse = reconstruction[0];
        double cos = reconstruction[1];
        long reconstructed = (long) reconstruction[2];
        List<Double> purity = null;
        if (labels) {
            purity = new ArrayList<>();
            Dataset<Row> labelled = encoded.filter(functions.col(AssignTask.LABEL).isNotNull());
            for (int k = 1; k <= coder.depth(); k++) {
                Row p = labelled.groupBy(functions.slice(functions.col(SidTable.SID), 1, k).as("prefix"),
                                functions.col(AssignTask.LABEL)).count()
                        .groupBy("prefix").agg(functions.max("count").as("majority"), functions.sum("count").as("n"))
                        .agg(functions.sum("majority"), functions.sum("n")).first();
                purity.add(p.isNullAt(1) || p.getLong(1) == 0 ? Double.NaN : p.getLong(0) / (double) p.getLong(1));
            }
        }
        return new SidManifest.Statistics(used, perplexity, mse, cos, reconstructed, purity);
    }
}
