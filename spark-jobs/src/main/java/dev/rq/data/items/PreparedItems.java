package dev.rq.data.items;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.column.page.PageReadStore;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.convert.GroupRecordConverter;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.io.ColumnIOFactory;
import org.apache.parquet.io.RecordReader;
import org.apache.parquet.schema.MessageType;

/**
 * The prepared copy of an item table that a semantic-ID training run reads, without Spark (usable in
 * a barrier task): the valid rows in a fixed order, embeddings as little-endian float32 bytes, in
 * small row groups (the unit of streaming reads).
 *
 * <pre>
 * &lt;dir&gt;/data/part-00000.zstd.parquet      item_id (the input's type), embedding: binary (dim × float32 LE), [label]
 * &lt;dir&gt;/_rejects/part-00000.zstd.parquet  rejected input rows: id, embedding, [label], _reject_reason,
 *                                         _reject_detail, _source_file
 * &lt;dir&gt;/_items.json                      {@link Manifest}, written last (a {@link dev.rq.io.StagedOutput}):
 *                                         counts (read = accepted + rejected), every data file with the rows
 *                                         of each row group, the rejects' files
 * </pre>
 *
 * Global row index i (the training order's unit) maps to (file, row group, row) through the
 * manifest's row-group sizes in file order; {@link #open} checks them against the Parquet footers.
 */
public final class PreparedItems {

    /** Manifest file name. */
    public static final String MANIFEST = "_items.json";
    /** Rejects folder name. */
    public static final String REJECTS = "_rejects";
    /** Data folder name. */
    public static final String DATA = "data";
    /** Id column of the prepared copy. */
    public static final String ID = "item_id";
    /** Embedding column of the prepared copy: binary, dim little-endian float32 values. */
    public static final String EMBEDDING = "embedding";
    /** Label column of the prepared copy (when the input has one). */
    public static final String LABEL = "label";
    /** {@link Manifest#format()}. */
    public static final String FORMAT = "rq-sid-items";
    /** {@link Manifest#formatVersion()}. */
    public static final int VERSION = 1;

    static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * {@code _items.json}.
     *
     * @param format {@value #FORMAT}
     * @param formatVersion {@value #VERSION}
     * @param source the item table it was prepared from
     * @param idColumn the input's id column
     * @param embeddingColumn the input's embedding column
     * @param labelColumn the input's label column ("" for none)
     * @param dim embedding dimension
     * @param read input rows
     * @param accepted rows of the prepared copy
     * @param rejected rows in {@code _rejects/}
     * @param rejectedByReason rejected rows per reason
     * @param files data files in index order
     * @param rejectFiles the rejects' files
     * @param created ISO-8601 time
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Manifest(String format, int formatVersion, String source, String idColumn, String embeddingColumn,
            String labelColumn, int dim, long read, long accepted, long rejected, Map<String, Long> rejectedByReason,
            List<FileEntry> files, List<String> rejectFiles, String created) {

        /** @return the manifest as JSON bytes */
        public byte[] toJson() {
            try {
                return JSON.writeValueAsBytes(this);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        /** @return the manifest of {@code dir} */
        public static Manifest read(Path dir, Configuration conf) throws IOException {
            Path p = new Path(dir, MANIFEST);
            FileSystem fs = p.getFileSystem(conf);
            if (!fs.exists(p)) {
                throw new FileNotFoundException(dir + " has no " + MANIFEST + " (not a complete prepared item table)");
            }
            try (InputStream in = fs.open(p)) {
                Manifest m = JSON.readValue(in, Manifest.class);
                if (!FORMAT.equals(m.format()) || m.formatVersion() != VERSION) {
                    throw new IOException(p + ": format " + m.format() + " v" + m.formatVersion() + " is not "
                            + FORMAT + " v" + VERSION);
                }
                return m;
            }
        }
    }

    /**
     * One data file.
     *
     * @param file path relative to the folder
     * @param rowGroups rows of each row group
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record FileEntry(String file, List<Long> rowGroups) {}

    private final Path dir;
    private final Configuration conf;
    private final Manifest manifest;
    private final Path[] files;
    private final int[] groupFile; // row group (global numbering) → file
    private final int[] groupInFile; // row group → index within its file
    private final long[] groupStart; // row group → first global row; length groups + 1

    private PreparedItems(Path dir, Configuration conf, Manifest manifest) {
        this.dir = dir;
        this.conf = conf;
        this.manifest = manifest;
        this.files = new Path[manifest.files().size()];
        List<int[]> groups = new ArrayList<>();
        List<Long> starts = new ArrayList<>();
        long at = 0;
        for (int f = 0; f < files.length; f++) {
            FileEntry e = manifest.files().get(f);
            files[f] = new Path(dir, e.file());
            for (int g = 0; g < e.rowGroups().size(); g++) {
                groups.add(new int[] {f, g});
                starts.add(at);
                at += e.rowGroups().get(g);
            }
        }
        this.groupFile = groups.stream().mapToInt(a -> a[0]).toArray();
        this.groupInFile = groups.stream().mapToInt(a -> a[1]).toArray();
        this.groupStart = new long[groups.size() + 1];
        for (int g = 0; g < groups.size(); g++) {
            groupStart[g] = starts.get(g);
        }
        groupStart[groups.size()] = at;
    }

    /**
     * Opens a prepared folder: requires the manifest and checks every file's row groups against it.
     *
     * @throws IOException when a file is missing or its row groups differ from the manifest
     */
    public static PreparedItems open(String uri, Configuration conf) throws IOException {
        Path dir = new Path(uri);
        Manifest m = Manifest.read(dir, conf);
        long total = 0;
        for (FileEntry e : m.files()) {
            Path p = new Path(dir, e.file());
            try (ParquetFileReader r = ParquetFileReader.open(HadoopInputFile.fromPath(p, conf))) {
                List<Long> rows = r.getRowGroups().stream().map(BlockMetaData::getRowCount).toList();
                if (!rows.equals(e.rowGroups())) {
                    throw new IOException(p + " has row groups of " + rows + " rows, " + MANIFEST + " says "
                            + e.rowGroups());
                }
            } catch (FileNotFoundException ex) {
                throw new FileNotFoundException(p + " listed in " + MANIFEST + " is missing");
            }
            total += e.rowGroups().stream().mapToLong(Long::longValue).sum();
        }
        if (total != m.accepted()) {
            throw new IOException(dir + ": files hold " + total + " rows, " + MANIFEST + " says " + m.accepted());
        }
        return new PreparedItems(dir, conf, m);
    }

    /** @return the manifest */
    public Manifest manifest() {
        return manifest;
    }

    /** @return the folder */
    public Path dir() {
        return dir;
    }

    /** @return rows (valid items) */
    public long numRows() {
        return groupStart[groupStart.length - 1];
    }

    /** @return the embedding dimension */
    public int dim() {
        return manifest.dim();
    }

    /** @return row groups in all files */
    public int numGroups() {
        return groupFile.length;
    }

    /** @return rows of row group {@code g} */
    public int groupRows(int g) {
        return (int) (groupStart[g + 1] - groupStart[g]);
    }

    /** @return global index of row group {@code g}'s first row */
    public long groupStart(int g) {
        return groupStart[g];
    }

    /** @return the row group holding global row {@code index} */
    public int groupOf(long index) {
        if (index < 0 || index >= numRows()) {
            throw new IndexOutOfBoundsException("row " + index + " of " + numRows());
        }
        int lo = 0;
        int hi = groupFile.length - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (groupStart[mid] <= index) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    /**
     * Reads the embeddings of one row group.
     *
     * @return [rows, dim] row-major
     */
    public float[] readGroup(int g) throws IOException {
        int dim = dim();
        try (ParquetFileReader r = ParquetFileReader.open(HadoopInputFile.fromPath(files[groupFile[g]], conf))) {
            MessageType file = r.getFooter().getFileMetaData().getSchema();
            MessageType projection = new MessageType(file.getName(), file.getType(EMBEDDING));
            r.setRequestedSchema(projection);
            PageReadStore pages = r.readRowGroup(groupInFile[g]);
            int rows = (int) pages.getRowCount();
            RecordReader<Group> rr = new ColumnIOFactory().getColumnIO(projection)
                    .getRecordReader(pages, new GroupRecordConverter(projection));
            float[] out = new float[rows * dim];
            for (int i = 0; i < rows; i++) {
                ByteBuffer b = rr.read().getBinary(EMBEDDING, 0).toByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                if (b.remaining() != dim * 4) {
                    throw new IOException(files[groupFile[g]] + " row group " + groupInFile[g] + " row " + i + " has "
                            + b.remaining() + " embedding bytes, expected " + dim * 4);
                }
                b.asFloatBuffer().get(out, i * dim, dim);
            }
            return out;
        }
    }

    /**
     * Reads the embeddings of rows given in ascending order, one pass over the row groups they lie
     * in (each read once).
     *
     * @param sortedIndices ascending global row indices
     * @return [n, dim] row-major in the order of {@code sortedIndices}
     */
    public float[] readRows(long[] sortedIndices) throws IOException {
        int dim = dim();
        float[] out = new float[sortedIndices.length * dim];
        int i = 0;
        while (i < sortedIndices.length) {
            int g = groupOf(sortedIndices[i]);
            float[] group = readGroup(g);
            long end = groupStart[g + 1];
            for (; i < sortedIndices.length && sortedIndices[i] < end; i++) {
                int row = (int) (sortedIndices[i] - groupStart[g]);
                System.arraycopy(group, row * dim, out, i * dim, dim);
            }
        }
        return out;
    }

    /** @return {@code values} as little-endian float32 bytes (the prepared embedding column) */
    public static byte[] toBytes(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return b.array();
    }
}
