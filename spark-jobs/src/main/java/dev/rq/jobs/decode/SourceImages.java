package dev.rq.jobs.decode;

import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.dataset.DatasetInfo;
import dev.rq.data.image.ImageDecodeException;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.tables.TokenRow;
import dev.rq.tables.Variant;
import dev.rq.data.image.Views;
import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;

/**
 * The originals of token rows: each row's source image ({@code sourceShard}, {@code sourceRow}) in
 * the canonical dataset split it was tokenized from, through the evaluation transform of its
 * variant ({@link Views}: what the tokenizer saw), NCHW floats in [−1, 1]. Serializable: a decode
 * task reads its rows' originals itself ({@link DecodeJob.Reference}); it opens the split once per
 * task and keeps the last row group read (a task's rows are in source order, so each row group is
 * read about once).
 */
public final class SourceImages implements DecodeJob.Reference {
    private static final long serialVersionUID = 1L;

    private final String splitUri;
    private final SerializableHadoopConf conf;
    private transient CanonicalDataset ds;
    private transient Map<String, Long> shardStart;
    private transient int cachedShard = -1;
    private transient int cachedGroup = -1;
    private transient CanonicalDataset.RowGroup cached;

    /** @param splitUri the canonical dataset split the table's rows come from */
    public SourceImages(String splitUri, Configuration conf) {
        this.splitUri = splitUri;
        this.conf = new SerializableHadoopConf(conf);
    }

    @Override
    public float[] originals(List<TokenRow> rows, int res) throws IOException {
        if (ds == null) {
            ds = CanonicalDataset.open(splitUri, conf.get());
            String rel = new Path(ds.splitDir().toString()).getName();
            shardStart = new HashMap<>();
            long start = 0;
            for (DatasetInfo.Shard sh : ds.info().shards()) {
                shardStart.put(rel + "/" + sh.file(), start);
                start += sh.rows();
            }
            cachedShard = -1;
        }
        Views views = new Views(res);
        int len = views.tensorLength();
        float[] out = new float[rows.size() * len];
        for (int i = 0; i < rows.size(); i++) {
            TokenRow r = rows.get(i);
            Long s0 = shardStart.get(r.getSourceShard());
            if (s0 == null || r.getSourceRow() < 0 || s0 + r.getSourceRow() >= ds.numRows()) {
                throw new IllegalStateException("token row " + r.getId() + " comes from " + r.getSourceShard()
                        + " row " + r.getSourceRow() + ", which is not a row of a shard of " + ds.splitDir());
            }
            int[] at = ds.locate(s0 + r.getSourceRow());
            if (at[0] != cachedShard || at[1] != cachedGroup) {
                cached = null;
                cached = ds.readRowGroup(at[0], at[1]);
                cachedShard = at[0];
                cachedGroup = at[1];
            }
            try {
                views.write(cached.bytes()[at[2]], List.of(Variant.ofId(r.getVariant())), out, i * len);
            } catch (ImageDecodeException e) {
                throw new IOException("source image of token row " + r.getId() + " (" + r.getSourceShard() + " row "
                        + r.getSourceRow() + "): " + e.getMessage(), e);
            }
        }
        return out;
    }
}
