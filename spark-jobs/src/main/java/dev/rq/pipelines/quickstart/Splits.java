package dev.rq.pipelines.quickstart;

import dev.rq.data.dataset.CanonicalDataset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The ingest stage's result: the opened dataset splits, in {@link QuickstartJob.Options#splits()}
 * order (their class names agree).
 *
 * @param datasets split name → opened split
 */
record Splits(Map<String, CanonicalDataset> datasets) {

    Splits {
        datasets = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(datasets));
    }

    /** @return the split named {@code name} */
    CanonicalDataset get(String name) {
        return datasets.get(name);
    }

    /** @return the dataset's class names (those of the first split) */
    List<String> classNames() {
        return datasets.values().iterator().next().classNames();
    }

    /** @return the images of every split */
    long images() {
        return datasets.values().stream().mapToLong(CanonicalDataset::numRows).sum();
    }

    /** Rows: label id + name, count per split; last row the totals (the console's and the report's table). */
    List<List<Object>> countRows() {
        List<String> names = classNames();
        TreeMap<Long, String> labels = new TreeMap<>();
        for (int i = 0; i < names.size(); i++) {
            labels.put((long) i, i + " " + names.get(i));
        }
        for (CanonicalDataset ds : datasets.values()) {
            Map<String, Long> counts = ds.info().countsPerLabel();
            if (counts != null) {
                counts.keySet().forEach(k -> labels.putIfAbsent(Long.parseLong(k), k.equals("-1") ? "-1 (unknown)" : k));
            }
        }
        List<List<Object>> rows = new ArrayList<>();
        for (var l : labels.entrySet()) {
            List<Object> r = new ArrayList<>();
            r.add(l.getValue());
            for (CanonicalDataset ds : datasets.values()) {
                Map<String, Long> counts = ds.info().countsPerLabel();
                r.add(counts == null ? 0L : counts.getOrDefault(Long.toString(l.getKey()), 0L));
            }
            rows.add(r);
        }
        List<Object> total = new ArrayList<>();
        total.add("total");
        datasets.values().forEach(ds -> total.add(ds.numRows()));
        rows.add(total);
        return rows;
    }
}
