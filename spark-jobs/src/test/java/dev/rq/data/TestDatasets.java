package dev.rq.data;

import dev.rq.data.dataset.DatasetInfo;
import dev.rq.data.dataset.DatasetLayout;
import dev.rq.data.dataset.ShardWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/** Canonical image datasets written directly (no Spark) for loader tests. */
public final class TestDatasets {

    private TestDatasets() {}

    /**
     * Writes split {@code split} under {@code root}: {@code images} noise PNGs of {@code side}²
     * (about 1 KB at 16²; 400 different images, repeated), labels {@code i % classes}, in {@code
     * shards} shards with row groups of about {@code rowGroupBytes}.
     *
     * @return the split folder
     */
    public static Path write(Path root, String split, int images, int classes, int side, long rowGroupBytes,
            int shards) throws IOException {
        Path dir = root.resolve(split);
        Files.createDirectories(dir);
        Configuration conf = new Configuration();
        List<String> names = new ArrayList<>();
        for (int c = 0; c < classes; c++) {
            names.add("class" + c);
        }
        List<byte[]> pngs = new ArrayList<>();
        for (int i = 0; i < Math.min(images, 400); i++) {
            pngs.add(TestImages.encode(TestImages.noise(side, side, i), "png"));
        }
        List<DatasetInfo.Shard> files = new ArrayList<>();
        Map<String, Long> perLabel = new LinkedHashMap<>();
        int next = 0;
        for (int s = 0; s < shards; s++) {
            String name = DatasetLayout.shardName(split, s, shards);
            Path file = dir.resolve(name);
            int end = (int) ((long) images * (s + 1) / shards);
            int rows = end - next;
            try (ShardWriter w = new ShardWriter(new org.apache.hadoop.fs.Path(file.toUri()), conf, names,
                    rowGroupBytes)) {
                for (; next < end; next++) {
                    long label = next % classes;
                    w.write("img-" + next + ".png", pngs.get(next % pngs.size()), label);
                    perLabel.merge(Long.toString(label), 1L, Long::sum);
                }
            }
            files.add(new DatasetInfo.Shard(name, rows, Files.size(file)));
        }
        DatasetInfo.Ingest ingest = new DatasetInfo.Ingest("test", "generated", images, images, 0, Map.of(), null,
                null, null);
        new DatasetInfo(DatasetInfo.FORMAT, DatasetInfo.VERSION, split, names, images, files, perLabel, ingest,
                Map.of("app", "TestDatasets"), "2026-01-01T00:00:00Z")
                .write(new org.apache.hadoop.fs.Path(dir.toUri()), conf);
        return dir;
    }
}
