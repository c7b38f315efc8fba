package dev.rq.executor;

import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.dataset.RowRange;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.hadoop.conf.Configuration;

/**
 * The executor-wide cache of open dataset splits that the tasks of every job reading image rows
 * share (tokenize, eval): a split's sidecar and shard list are read once per JVM, keyed by the
 * split URI and its version ({@link RowRange#splitVersion}), so a rewritten split is opened anew.
 */
public final class ExecutorDatasets {

    private static final Map<String, CanonicalDataset> OPEN = new ConcurrentHashMap<>();

    private ExecutorDatasets() {}

    /** @return the split that {@code range} reads, opened on first use */
    public static CanonicalDataset get(RowRange range, Configuration conf) {
        return OPEN.computeIfAbsent(range.splitUri() + "@" + range.splitVersion(), k -> {
            try {
                return CanonicalDataset.open(range.splitUri(), conf);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }
}
