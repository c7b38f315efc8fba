package dev.rq.tables;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.HadoopReadOptions;
import org.apache.parquet.column.ColumnDescriptor;
import org.apache.parquet.column.ColumnReader;
import org.apache.parquet.column.impl.ColumnReadStoreImpl;
import org.apache.parquet.column.page.PageReadStore;
import org.apache.parquet.example.data.simple.convert.GroupRecordConverter;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.metadata.ParquetMetadata;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.hadoop.util.HadoopStreams;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Type;

/**
 * One split of a token table read without Spark (inside a training task), one Parquet row group
 * (a <em>block</em>) at a time, reading only the columns asked for. Rows have a fixed global
 * order: the data files in manifest order, rows in file order; every (image, variant) row is a
 * sample.
 *
 * <p>{@link #open} requires the manifest and reads exactly the data files it lists ({@link
 * TokenTable#dataFiles}, in the manifest's order), each footer once, and checks them: a missing
 * split or file, a file that is not Parquet (truncated, another format), a file without the {@code
 * codes}/{@code label} (and, when the manifest lists them, {@code latents}) columns of the schema,
 * or row counts that disagree with the manifest fail naming the file. Memory: the footers (a few
 * hundred bytes per row group), never the rows.
 */
public final class TokenSplit {

    private final String root;
    private final String split;
    private final TokenManifest manifest;
    /**
     * Stream buffer for block reads: smaller than a row group, so that the column chunks are read
     * exactly (a larger buffer, e.g. Spark's 64 KiB {@code io.file.buffer.size}, would read past a
     * small row group).
     */
    private static final int READ_BUFFER = 4096;

    private final Configuration conf;
    private final FileSystem fs;
    private final Path[] files;
    private final ParquetMetadata[] footers;
    private final int[] blockStart; // block id of each file's first row group; + total
    private final long[] rowStart; // global row of each block's first row; + total

    private TokenSplit(String root, String split, TokenManifest manifest, Configuration conf, FileSystem fs,
            Path[] files, ParquetMetadata[] footers) {
        this.root = root;
        this.split = split;
        this.manifest = manifest;
        this.conf = conf;
        this.fs = fs;
        this.files = files;
        this.footers = footers;
        this.blockStart = new int[files.length + 1];
        for (int f = 0; f < files.length; f++) {
            blockStart[f + 1] = blockStart[f] + footers[f].getBlocks().size();
        }
        this.rowStart = new long[blockStart[files.length] + 1];
        int b = 0;
        for (ParquetMetadata footer : footers) {
            for (BlockMetaData m : footer.getBlocks()) {
                rowStart[b + 1] = rowStart[b] + m.getRowCount();
                b++;
            }
        }
    }

    /**
     * Opens split {@code split} of the token table at {@code root}.
     *
     * @throws FileNotFoundException when the table has no manifest
     * @throws IllegalArgumentException when the manifest lists no such split, or a data file is
     *     unreadable, has another schema, or the rows disagree with the manifest
     * @throws IllegalStateException when a listed file is missing or has another size
     */
    public static TokenSplit open(String root, String split, Configuration conf) throws IOException {
        TokenManifest m = TokenManifest.read(root, conf);
        if (!m.splits().containsKey(split)) {
            throw new IllegalArgumentException("token table " + root + " has splits " + m.splits().keySet() + ", not '"
                    + split + "'");
        }
        Path dir = new Path(root, TokenTableSchema.SPLIT + "=" + split);
        FileSystem fs = dir.getFileSystem(conf);
        Path[] files = TokenTable.dataFiles(root, m, split, conf).toArray(Path[]::new); // exactly the manifest's
        ParquetMetadata[] footers = new ParquetMetadata[files.length];
        long rows = 0;
        for (int i = 0; i < files.length; i++) {
            try (ParquetFileReader r = ParquetFileReader.open(HadoopInputFile.fromPath(files[i], conf))) {
                footers[i] = r.getFooter();
            } catch (IOException | RuntimeException e) {
                throw new IllegalArgumentException(files[i] + ": not a readable Parquet file (truncated or another"
                        + " format?): " + e.getMessage(), e);
            }
            checkSchema(files[i], footers[i].getFileMetaData().getSchema(), m.hasLatents());
            for (BlockMetaData b : footers[i].getBlocks()) {
                rows += b.getRowCount();
            }
        }
        long want = m.splits().get(split).rows();
        if (rows != want) {
            throw new IllegalArgumentException("token table " + root + " split '" + split + "' holds " + rows + " rows in "
                    + files.length + " files under " + dir + ", its manifest says " + want);
        }
        return new TokenSplit(root, split, m, conf, fs, files, footers);
    }

    /** @return the (only) leaf column under top-level field {@code name} */
    private static ColumnDescriptor leaf(MessageType schema, String name) {
        return schema.getColumns().stream().filter(c -> c.getPath()[0].equals(name)).findFirst().orElseThrow();
    }

    /**
     * Reads a list column of {@code rows} rows of exactly {@code per} ints each, straight from the
     * column (repetition level 0 starts a row), without building records.
     */
    private static int[] readCodes(ColumnReader cr, int rows, int per) throws IOException {
        int[] codes = new int[rows * per];
        int maxDef = cr.getDescriptor().getMaxDefinitionLevel();
        long total = cr.getTotalValueCount();
        int row = -1;
        int j = per;
        for (long v = 0; v < total; v++, cr.consume()) {
            if (cr.getCurrentRepetitionLevel() == 0) {
                if (j != per) {
                    throw new IOException("row " + row + " has " + j + " codes, the manifest says " + per);
                }
                row++;
                j = 0;
            }
            if (cr.getCurrentDefinitionLevel() == maxDef) {
                if (j == per) {
                    throw new IOException("row " + row + " has more than " + per + " codes, the manifest says " + per);
                }
                codes[row * per + j++] = cr.getInteger();
            }
        }
        if (row != rows - 1 || j != per) {
            throw new IOException("row " + row + " has " + j + " codes, the manifest says " + per);
        }
        return codes;
    }

    /** Fails unless a part file has {@code codes} (list of int), {@code label} (int64) and the latents. */
    static void checkSchema(Path file, MessageType schema, boolean latents) {
        boolean ok = schema.containsField(TokenTableSchema.CODES)
                && !schema.getType(TokenTableSchema.CODES).isPrimitive()
                && schema.getColumns().stream().anyMatch(c -> c.getPath()[0].equals(TokenTableSchema.CODES)
                        && c.getPrimitiveType().getPrimitiveTypeName() == PrimitiveTypeName.INT32)
                && schema.containsField(TokenTableSchema.LABEL)
                && primitive(schema.getType(TokenTableSchema.LABEL), PrimitiveTypeName.INT64)
                && (!latents || schema.containsField(TokenTableSchema.LATENTS)
                        && primitive(schema.getType(TokenTableSchema.LATENTS), PrimitiveTypeName.BINARY));
        if (!ok) {
            throw new IllegalArgumentException(file + ": not a token table file of schema v" + TokenTableSchema.SCHEMA_VERSION
                    + " (needs codes: array<int16|int32>, label: int64" + (latents ? ", latents: binary" : "")
                    + "); its schema is " + schema.toString().replaceAll("\\s+", " ").trim());
        }
    }

    private static boolean primitive(Type t, PrimitiveTypeName name) {
        return t.isPrimitive() && ((PrimitiveType) t).getPrimitiveTypeName() == name;
    }

    public TokenManifest manifest() {
        return manifest;
    }

    /** @return {@code <root> split '<split>'}, for messages */
    public String describe() {
        return "token table " + root + " split '" + split + "'";
    }

    /** @return bytes of the split's part files */
    public long fileBytes() throws IOException {
        long b = 0;
        for (Path f : files) {
            b += fs.getFileStatus(f).getLen();
        }
        return b;
    }

    /** @return rows of the split */
    public long numRows() {
        return rowStart[rowStart.length - 1];
    }

    /** @return row groups over all part files (blocks, in global row order) */
    public int numBlocks() {
        return rowStart.length - 1;
    }

    /** @return rows of every block */
    public long[] blockRows() {
        long[] r = new long[numBlocks()];
        for (int b = 0; b < r.length; b++) {
            r[b] = rowStart[b + 1] - rowStart[b];
        }
        return r;
    }

    /** @return stored (compressed) bytes of every block's column chunks */
    public long[] blockStoredBytes() {
        long[] s = new long[numBlocks()];
        int b = 0;
        for (ParquetMetadata f : footers) {
            for (BlockMetaData m : f.getBlocks()) {
                s[b++] = m.getCompressedSize();
            }
        }
        return s;
    }

    /** @return heap bytes of one row in a {@link TokenBlock} (codes as int, latents as bytes) */
    public long rowHeapBytes(boolean withLatents) {
        long b = 4L * manifest.codesLength() + 8;
        if (withLatents && manifest.hasLatents()) {
            b += 2L * manifest.latents().shape().stream().mapToLong(Integer::longValue).reduce(1, (x, y) -> x * y);
        }
        return b;
    }

    /**
     * The first {@code n} rows (codes and labels), reading blocks in order; memory: those rows plus
     * one block.
     */
    public TokenBlock head(int n) throws IOException {
        int rows = (int) Math.min(n, numRows());
        int per = manifest.codesLength();
        int[] codes = new int[rows * per];
        long[] labels = new long[rows];
        int done = 0;
        for (int b = 0; done < rows; b++) {
            TokenBlock t = read(b, false);
            int take = Math.min(t.size(), rows - done);
            System.arraycopy(t.codes(), 0, codes, done * per, take * per);
            System.arraycopy(t.labels(), 0, labels, done, take);
            done += take;
        }
        return new TokenBlock(0, per, codes, labels, null, 0);
    }

    /**
     * Reads one block: codes, labels and, when asked, latents, reading only those column chunks.
     *
     * @throws IOException naming the file and row group
     */
    public TokenBlock read(int block, boolean withLatents) throws IOException {
        int f = 0;
        while (blockStart[f + 1] <= block) {
            f++;
        }
        int group = block - blockStart[f];
        Path file = files[f];
        ParquetMetadata one = new ParquetMetadata(footers[f].getFileMetaData(),
                List.of(footers[f].getBlocks().get(group)));
        MessageType full = one.getFileMetaData().getSchema();
        List<Type> fields = new ArrayList<>(List.of(full.getType(TokenTableSchema.CODES),
                full.getType(TokenTableSchema.LABEL)));
        boolean latents = withLatents && manifest.hasLatents();
        if (latents) {
            fields.add(full.getType(TokenTableSchema.LATENTS));
        }
        MessageType projection = new MessageType(full.getName(), fields);
        int per = manifest.codesLength();
        try (ParquetFileReader r = new ParquetFileReader(conf, file, one, HadoopReadOptions.builder(conf, file).build(),
                HadoopStreams.wrap(fs.open(file, READ_BUFFER)))) {
            r.setRequestedSchema(projection);
            PageReadStore pages = r.readRowGroup(0);
            int rows = Math.toIntExact(pages.getRowCount());
            ColumnReadStoreImpl store = new ColumnReadStoreImpl(pages,
                    new GroupRecordConverter(projection).getRootConverter(), projection,
                    one.getFileMetaData().getCreatedBy());
            int[] codes = readCodes(store.getColumnReader(leaf(projection, TokenTableSchema.CODES)), rows, per);
            long[] labels = new long[rows];
            ColumnDescriptor labelColumn = leaf(projection, TokenTableSchema.LABEL);
            ColumnReader lr = store.getColumnReader(labelColumn);
            for (int i = 0; i < rows; i++, lr.consume()) {
                labels[i] = lr.getCurrentDefinitionLevel() == labelColumn.getMaxDefinitionLevel() ? lr.getLong() : -1L;
            }
            int latentBytes = latents ? (int) (rowHeapBytes(true) - rowHeapBytes(false)) : 0;
            byte[] lat = null;
            if (latents) {
                lat = new byte[rows * latentBytes];
                ColumnDescriptor latentColumn = leaf(projection, TokenTableSchema.LATENTS);
                ColumnReader xr = store.getColumnReader(latentColumn);
                for (int i = 0; i < rows; i++, xr.consume()) {
                    if (xr.getCurrentDefinitionLevel() != latentColumn.getMaxDefinitionLevel()) {
                        throw new IOException("row " + i + " has no latents");
                    }
                    Binary b = xr.getBinary();
                    if (b.length() != latentBytes) {
                        throw new IOException("row " + i + " has " + b.length() + " latent bytes, the manifest says "
                                + latentBytes);
                    }
                    b.toByteBuffer().get(lat, i * latentBytes, latentBytes);
                }
            }
            return new TokenBlock(rowStart[block], per, codes, labels, lat, latentBytes);
        } catch (IOException | RuntimeException e) {
            throw new IOException(file + ": cannot read row group " + group + " of " + describe() + ": "
                    + e.getMessage(), e);
        }
    }
}
