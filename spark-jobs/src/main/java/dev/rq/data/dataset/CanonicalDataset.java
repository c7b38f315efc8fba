package dev.rq.data.dataset;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.HadoopReadOptions;
import org.apache.parquet.column.page.PageReadStore;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.convert.GroupRecordConverter;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.metadata.ParquetMetadata;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.hadoop.util.HadoopStreams;
import org.apache.parquet.io.ColumnIOFactory;
import org.apache.parquet.io.MessageColumnIO;
import org.apache.parquet.io.RecordReader;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Type;

/**
 * Read access to one split of a canonical dataset on any Hadoop file system, without Spark (usable
 * inside a Spark task or a plain JVM).
 *
 * <p>{@link #open} requires the {@code _dataset_info.json} sidecar (written last by the ingest, so
 * a half-written split is never opened) and checks that every listed shard exists, is a Parquet
 * file with the shard schema, and that its footer row count matches the sidecar; every error names
 * the file. Global row index {@code i} maps to (shard, row) through the shard row counts in index
 * order. Rows are read one Parquet row group (a <em>block</em>, numbered over all shards in index
 * order) at a time; the footers read by {@link #open} are kept, so a block read reads only its
 * column chunks.
 */
public final class CanonicalDataset {
    private final Path splitDir;
    /**
     * Stream buffer for block reads: smaller than a row group, so that the column chunks are read
     * exactly (a larger buffer, e.g. Spark's 64 KiB {@code io.file.buffer.size}, would read past a
     * small row group).
     */
    private static final int READ_BUFFER = 4096;

    private final Configuration conf;
    private final FileSystem fs;
    private final DatasetInfo info;
    private final Path[] shardPaths;
    private final long[] shardStart; // global index of each shard's first row; length shards+1
    private final long[][] groupStart; // per shard: row index of each row group's first row; +end
    private final ParquetMetadata[] footers;
    private final int[] blockStart; // block id of each shard's first row group; + total

    private CanonicalDataset(Path splitDir, Configuration conf, FileSystem fs, DatasetInfo info,
            Path[] shardPaths, long[] shardStart, long[][] groupStart, ParquetMetadata[] footers) {
        this.splitDir = splitDir;
        this.conf = conf;
        this.fs = fs;
        this.info = info;
        this.shardPaths = shardPaths;
        this.shardStart = shardStart;
        this.groupStart = groupStart;
        this.footers = footers;
        this.blockStart = new int[footers.length + 1];
        for (int s = 0; s < footers.length; s++) {
            blockStart[s + 1] = blockStart[s] + footers[s].getBlocks().size();
        }
    }

    /**
     * Opens a split folder.
     *
     * @param splitUri URI of {@code <root>/<split>} (any Hadoop file system)
     * @param conf Hadoop configuration
     * @throws FileNotFoundException when the folder, its sidecar or a shard is missing (not a
     *     complete split)
     * @throws IllegalArgumentException when a shard's size or row count differs from the sidecar
     *     (a truncated or replaced shard), or it is not a Parquet file with the shard schema
     */
    public static CanonicalDataset open(String splitUri, Configuration conf) throws IOException {
        Path dir = new Path(splitUri);
        FileSystem fs = dir.getFileSystem(conf);
        if (!fs.exists(new Path(dir, DatasetLayout.INFO_FILE))) {
            throw new FileNotFoundException(notASplit(fs, dir, splitUri));
        }
        DatasetInfo info = DatasetInfo.read(dir, conf);
        int n = info.shards().size();
        Path[] paths = new Path[n];
        long[] start = new long[n + 1];
        long[][] groups = new long[n][];
        for (int s = 0; s < n; s++) {
            paths[s] = new Path(dir, info.shards().get(s).file());
        }
        ParquetMetadata[] footers = footers(fs, paths, info, splitUri, conf);
        for (int s = 0; s < n; s++) {
            List<BlockMetaData> blocks = footers[s].getBlocks();
            groups[s] = new long[blocks.size() + 1];
            for (int g = 0; g < blocks.size(); g++) {
                groups[s][g + 1] = groups[s][g] + blocks.get(g).getRowCount();
            }
            start[s + 1] = start[s] + groups[s][groups[s].length - 1]; // = shard.rows(), checked
        }
        if (start[n] != info.numRows()) {
            throw new IllegalArgumentException("dataset split " + splitUri + ": its shards hold " + start[n]
                    + " rows, " + DatasetLayout.INFO_FILE + " says " + info.numRows() + "; re-ingest the split");
        }
        return new CanonicalDataset(dir, conf, fs, info, paths, start, groups, footers);
    }

    /** Shards whose sizes and footers {@link #open} reads at once (object stores: a few requests each). */
    static final int OPEN_THREADS = 16;

    /**
     * Checks every shard's presence and size and reads its footer and schema, on up to {@link
     * #OPEN_THREADS} threads: a split has hundreds of shards (150 GB of ImageNet at 256 MB each is
     * ~560), and the driver and every executor open it. Failures are reported in shard order, as
     * one pass would.
     */
    private static ParquetMetadata[] footers(FileSystem fs, Path[] paths, DatasetInfo info, String splitUri,
            Configuration conf) throws IOException {
        int n = paths.length;
        ParquetMetadata[] out = new ParquetMetadata[n];
        if (n == 0) {
            return out;
        }
        AtomicInteger id = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(Math.min(OPEN_THREADS, n), r -> {
            Thread t = new Thread(r, "rq-dataset-open-" + id.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<ParquetMetadata>> pending = new ArrayList<>(n);
            for (int s = 0; s < n; s++) {
                int k = s;
                pending.add(pool.submit(() -> shardFooter(fs, paths[k], info.shards().get(k), splitUri, conf)));
            }
            for (int s = 0; s < n; s++) {
                try {
                    out[s] = pending.get(s).get();
                } catch (ExecutionException e) {
                    Throwable c = e.getCause();
                    if (c instanceof IOException io) {
                        throw io;
                    }
                    if (c instanceof RuntimeException r) {
                        throw r;
                    }
                    if (c instanceof Error err) {
                        throw err;
                    }
                    throw new IOException(c);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted while opening dataset split " + splitUri);
                }
            }
        } finally {
            pool.shutdownNow();
        }
        return out;
    }

    /** One shard: present, the sidecar's size and rows, a readable footer with the shard schema. */
    private static ParquetMetadata shardFooter(FileSystem fs, Path path, DatasetInfo.Shard shard, String splitUri,
            Configuration conf) throws IOException {
        if (!fs.exists(path)) {
            throw new FileNotFoundException("dataset split " + splitUri + ": shard " + shard.file()
                    + " listed in " + DatasetLayout.INFO_FILE + " is missing; re-ingest the split");
        }
        FileStatus status = fs.getFileStatus(path);
        if (status.getLen() != shard.bytes()) {
            throw new IllegalArgumentException("dataset split " + splitUri + ": shard " + shard.file() + " is "
                    + status.getLen() + " bytes, " + DatasetLayout.INFO_FILE + " says " + shard.bytes()
                    + " (truncated or replaced); re-ingest the split");
        }
        ParquetMetadata footer = footer(status, conf, splitUri, shard.file());
        checkSchema(splitUri, shard.file(), footer.getFileMetaData().getSchema());
        long rows = footer.getBlocks().stream().mapToLong(BlockMetaData::getRowCount).sum();
        if (rows != shard.rows()) {
            throw new IllegalArgumentException("dataset split " + splitUri + ": shard " + shard.file() + " has "
                    + rows + " rows, " + DatasetLayout.INFO_FILE + " says " + shard.rows() + "; re-ingest the split");
        }
        return footer;
    }

    /** Reads a shard's footer; a truncated or non-Parquet file fails naming it. */
    private static ParquetMetadata footer(FileStatus st, Configuration conf, String splitUri, String file) {
        try (ParquetFileReader r = ParquetFileReader.open(HadoopInputFile.fromStatus(st, conf))) {
            return r.getFooter();
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("dataset split " + splitUri + ": shard " + file + " is not a"
                    + " readable Parquet file (truncated or another format?): " + e.getMessage(), e);
        }
    }

    /** Fails unless a shard has {@code image.bytes} (binary) and {@code label} (int64). */
    static void checkSchema(String splitUri, String file, MessageType schema) {
        String want = "image: struct<bytes: binary, path: string>, label: int64";
        if (!schema.containsPath(new String[] {DatasetLayout.IMAGE, DatasetLayout.BYTES})
                || !primitive(schema.getType(DatasetLayout.IMAGE, DatasetLayout.BYTES),
                        PrimitiveTypeName.BINARY)
                || !schema.containsField(DatasetLayout.LABEL)
                || !primitive(schema.getType(DatasetLayout.LABEL), PrimitiveTypeName.INT64)) {
            throw new IllegalArgumentException("dataset split " + splitUri + ": shard " + file
                    + " is not a dataset shard: its schema is " + schema.toString()
                    .replaceAll("\\s+", " ").trim() + ", expected " + want);
        }
    }

    private static boolean primitive(Type t, PrimitiveTypeName name) {
        return t.isPrimitive() && ((PrimitiveType) t).getPrimitiveTypeName() == name;
    }

    /** Why {@code dir} (which has no sidecar) is not a split, and what to pass instead. */
    private static String notASplit(FileSystem fs, Path dir, String splitUri) throws IOException {
        if (!fs.exists(dir)) {
            return splitUri + ": no such dataset split (make one with rq ingest, or check the path)";
        }
        List<String> splits = new ArrayList<>();
        if (fs.getFileStatus(dir).isDirectory()) {
            for (var st : fs.listStatus(dir)) {
                if (st.isDirectory() && fs.exists(new Path(st.getPath(), DatasetLayout.INFO_FILE))) {
                    splits.add(st.getPath().getName());
                }
            }
        }
        if (!splits.isEmpty()) {
            splits.sort(null);
            return splitUri + " is a dataset root, not a split: pass one of its split folders (" + String.join(", ",
                    splits.stream().map(x -> new Path(dir, x).toString()).toList()) + ")";
        }
        return splitUri + " has no " + DatasetLayout.INFO_FILE + ": not a complete rq dataset split (write one with"
                + " rq ingest; an interrupted ingest leaves none, rerun it)";
    }

    /** The sidecar. */
    public DatasetInfo info() {
        return info;
    }

    /** The split folder. */
    public Path splitDir() {
        return splitDir;
    }

    /** Total rows. */
    public long numRows() {
        return shardStart[shardStart.length - 1];
    }

    /** Class names by label id (empty when unknown). */
    public List<String> classNames() {
        return info.classNames() == null ? List.of() : info.classNames();
    }

    /** Number of shards. */
    public int numShards() {
        return shardPaths.length;
    }

    /** Number of row groups in a shard. */
    public int numRowGroups(int shard) {
        return groupStart[shard].length - 1;
    }

    /** Rows of one row group of a shard (from the footer read by {@link #open}). */
    public long rowGroupRows(int shard, int group) {
        return groupStart[shard][group + 1] - groupStart[shard][group];
    }

    /**
     * Locates a global row.
     *
     * @return {shard, row group, row within the row group}
     */
    public int[] locate(long index) {
        if (index < 0 || index >= numRows()) {
            throw new IndexOutOfBoundsException("row " + index + " of " + numRows());
        }
        int s = upper(shardStart, index);
        long row = index - shardStart[s];
        int g = upper(groupStart[s], row);
        return new int[] {s, g, (int) (row - groupStart[s][g])};
    }

    /** Largest i with a[i] <= v. */
    private static int upper(long[] a, long v) {
        int lo = 0;
        int hi = a.length - 2;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (a[mid] <= v) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    /**
     * Reads one row group of a shard.
     *
     * @return its rows in file order
     */
    public RowGroup readRowGroup(int shard, int group) throws IOException {
        Path file = shardPaths[shard];
        ParquetMetadata one = new ParquetMetadata(footers[shard].getFileMetaData(),
                List.of(footers[shard].getBlocks().get(group)));
        try (ParquetFileReader r = new ParquetFileReader(conf, file, one,
                HadoopReadOptions.builder(conf, file).build(),
                HadoopStreams.wrap(fs.open(file, READ_BUFFER)))) {
            MessageType schema = one.getFileMetaData().getSchema();
            PageReadStore pages = r.readRowGroup(0);
            int rows = (int) pages.getRowCount();
            MessageColumnIO io = new ColumnIOFactory().getColumnIO(schema);
            RecordReader<Group> rr = io.getRecordReader(pages, new GroupRecordConverter(schema));
            byte[][] bytes = new byte[rows][];
            String[] paths = new String[rows];
            long[] labels = new long[rows];
            for (int i = 0; i < rows; i++) {
                Group row = rr.read();
                if (row.getFieldRepetitionCount(DatasetLayout.IMAGE) > 0) {
                    Group image = row.getGroup(DatasetLayout.IMAGE, 0);
                    if (image.getFieldRepetitionCount(DatasetLayout.BYTES) > 0) {
                        bytes[i] = image.getBinary(DatasetLayout.BYTES, 0).getBytes();
                    }
                    if (image.getFieldRepetitionCount(DatasetLayout.PATH) > 0) {
                        paths[i] = image.getString(DatasetLayout.PATH, 0);
                    }
                }
                labels[i] = row.getFieldRepetitionCount(DatasetLayout.LABEL) > 0
                        ? row.getLong(DatasetLayout.LABEL, 0)
                        : DatasetLayout.UNKNOWN_LABEL;
            }
            return new RowGroup(shardStart[shard] + groupStart[shard][group], bytes, paths, labels);
        } catch (IOException | RuntimeException e) {
            throw new IOException(file + ": cannot read row group " + group + " (corrupt or"
                    + " truncated file?): " + e.getMessage(), e);
        }
    }

    /** @return row groups over all shards (blocks, numbered in global row order) */
    public int numBlocks() {
        return blockStart[blockStart.length - 1];
    }

    /**
     * Rows and estimated heap bytes of every block once read: the row group's uncompressed column
     * bytes plus 96 bytes per row (array and string headers, label).
     *
     * @return {rows[], heapBytes[]} by block id
     */
    public long[][] blockSizes() {
        long[] rows = new long[numBlocks()];
        long[] heap = new long[numBlocks()];
        for (int s = 0; s < footers.length; s++) {
            List<BlockMetaData> blocks = footers[s].getBlocks();
            for (int g = 0; g < blocks.size(); g++) {
                rows[blockStart[s] + g] = blocks.get(g).getRowCount();
                heap[blockStart[s] + g] = blocks.get(g).getTotalByteSize()
                        + 96 * blocks.get(g).getRowCount();
            }
        }
        return new long[][] {rows, heap};
    }

    /** @return bytes of all shard files' row groups as stored (compressed) */
    public long storedBytes() {
        long b = 0;
        for (ParquetMetadata f : footers) {
            for (BlockMetaData m : f.getBlocks()) {
                b += m.getCompressedSize();
            }
        }
        return b;
    }

    /** Reads block {@code block} (row group numbered over all shards). */
    public RowGroup readBlock(int block) throws IOException {
        if (block < 0 || block >= numBlocks()) {
            throw new IndexOutOfBoundsException("block " + block + " of " + numBlocks());
        }
        int s = 0;
        while (blockStart[s + 1] <= block) {
            s++;
        }
        return readRowGroup(s, block - blockStart[s]);
    }

    /** Reads every row in global index order (small datasets, tests). */
    public List<Sample> readAll() throws IOException {
        List<Sample> all = new ArrayList<>();
        for (int s = 0; s < numShards(); s++) {
            for (int g = 0; g < numRowGroups(s); g++) {
                RowGroup rg = readRowGroup(s, g);
                for (int i = 0; i < rg.size(); i++) {
                    all.add(rg.sample(i));
                }
            }
        }
        return all;
    }

    /**
     * One decoded-from-Parquet sample (still encoded image bytes).
     *
     * @param index global row index
     * @param bytes encoded image
     * @param path {@code image.path}
     * @param label class id or -1
     */
    public record Sample(long index, byte[] bytes, String path, long label) {}

    /**
     * The rows of one row group.
     *
     * @param firstIndex global index of the first row
     * @param bytes encoded images
     * @param paths {@code image.path} values
     * @param labels labels
     */
    public record RowGroup(long firstIndex, byte[][] bytes, String[] paths, long[] labels) {
        public int size() {
            return labels.length;
        }

        public Sample sample(int i) {
            return new Sample(firstIndex + i, bytes[i], paths[i], labels[i]);
        }

        /** Approximate heap size, for cache budgets. */
        public long heapBytes() {
            long b = 96L * labels.length;
            for (int i = 0; i < labels.length; i++) {
                b += (bytes[i] == null ? 0 : bytes[i].length)
                        + (paths[i] == null ? 0 : paths[i].length());
            }
            return b;
        }
    }
}
