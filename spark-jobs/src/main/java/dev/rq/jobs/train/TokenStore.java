package dev.rq.jobs.train;

import dev.rq.tables.TokenManifest;
import dev.rq.tables.TokenTable;
import dev.rq.tables.TokenTableSchema;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.example.GroupReadSupport;

/**
 * One split of a token table held in memory for stage-2 training, read directly from its Parquet
 * files (no SparkSession needed, so it runs inside a barrier task). Rows are in a fixed global
 * order: the manifest's files (task order), rows in file order; every (image, variant) row is a sample.
 *
 * <p>Memory: H·W·D codes as int plus, with latents, H·W·C float16 per row (ImageNet 8×8×4 codes:
 * 1 KB per row, 1.3 GB for 1.28 M rows).
 */
final class TokenStore {

    final int rows;
    final int codesPerRow;
    final int[] codes; // [rows, H·W·D]
    final long[] labels;
    final byte[][] latents; // per row [h, w, C] float16 LE, or null

    private TokenStore(int codesPerRow, List<int[]> codes, List<Long> labels, List<byte[]> latents) {
        this.rows = codes.size();
        this.codesPerRow = codesPerRow;
        this.codes = new int[rows * codesPerRow];
        for (int i = 0; i < rows; i++) {
            System.arraycopy(codes.get(i), 0, this.codes, i * codesPerRow, codesPerRow);
        }
        this.labels = labels.stream().mapToLong(Long::longValue).toArray();
        this.latents = latents.isEmpty() ? null : latents.toArray(new byte[0][]);
    }

    /** Reads split {@code split} of the table at {@code root}; checks every row's code count. */
    static TokenStore read(String root, String split, TokenManifest manifest, boolean withLatents, Configuration conf)
            throws IOException {
        if (!manifest.splits().containsKey(split)) {
            throw new IOException("token table " + root + " has no split '" + split + "'");
        }
        List<Path> files = TokenTable.dataFiles(root, manifest, split, conf); // exactly the manifest's files
        int per = manifest.codesLength();
        List<int[]> codes = new ArrayList<>();
        List<Long> labels = new ArrayList<>();
        List<byte[]> latents = new ArrayList<>();
        for (Path f : files) {
            try (ParquetReader<Group> r = ParquetReader.builder(new GroupReadSupport(), f).withConf(conf).build()) {
                Group g;
                while ((g = r.read()) != null) {
                    Group list = g.getGroup(TokenTableSchema.CODES, 0);
                    int n = list.getFieldRepetitionCount(0);
                    if (n != per) {
                        throw new IOException(f + ": a row has " + n + " codes, the manifest says " + per);
                    }
                    int[] c = new int[n];
                    for (int i = 0; i < n; i++) {
                        c[i] = list.getGroup(0, i).getInteger(0, 0);
                    }
                    codes.add(c);
                    labels.add(g.getFieldRepetitionCount(TokenTableSchema.LABEL) > 0
                            ? g.getLong(TokenTableSchema.LABEL, 0) : -1L);
                    if (withLatents) {
                        latents.add(g.getBinary(TokenTableSchema.LATENTS, 0).getBytes());
                    }
                }
            }
        }
        if (codes.isEmpty()) {
            throw new IOException("token table " + root + " split '" + split + "' has no rows");
        }
        return new TokenStore(per, codes, labels, latents);
    }
}
