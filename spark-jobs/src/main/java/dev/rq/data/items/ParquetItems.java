package dev.rq.data.items;

import java.io.IOException;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.HadoopReadOptions;
import org.apache.parquet.bytes.BytesUtils;
import org.apache.parquet.column.ColumnDescriptor;
import org.apache.parquet.column.ColumnReader;
import org.apache.parquet.column.Encoding;
import org.apache.parquet.column.impl.ColumnReadStoreImpl;
import org.apache.parquet.column.page.DataPage;
import org.apache.parquet.column.page.DataPageV1;
import org.apache.parquet.column.page.DataPageV2;
import org.apache.parquet.column.page.PageReadStore;
import org.apache.parquet.column.page.PageReader;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.metadata.ColumnChunkMetaData;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.io.api.Converter;
import org.apache.parquet.io.api.GroupConverter;
import org.apache.parquet.io.api.PrimitiveConverter;
import org.apache.parquet.schema.GroupType;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType;
import org.apache.parquet.schema.Type;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.unsafe.Platform;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * Reads an item table's Parquet files without Spark's row or column-batch readers: the embedding
 * column's pages (PLAIN {@code float} values of a standard 3-level list) are decompressed by
 * parquet-mr and walked a level run at a time ({@link LevelRuns}), and each row's floats leave in one
 * bulk copy; the id and label columns (scalars) go through parquet-mr's column readers. Rows come out
 * as {@link ItemInput#checked(boolean) ItemInput.checked(false)} rows would, {@code (id, embedding,
 * [label], reason, detail, file)}, with the same reasons and details for null ids, null embeddings and
 * wrong lengths (the element checks stay with the caller, {@link InternalRows#copyChecked}).
 *
 * <p>{@link #unsupported} says which files it cannot read (then the caller uses Spark's reader for
 * the whole table): an embedding that is not a standard 3-level list of FLOAT (a 2-level list,
 * doubles), its values not PLAIN (dictionary or BYTE_STREAM_SPLIT), levels not RLE, ids or labels of
 * other physical types or logical annotations than Spark's integers and strings, a column missing
 * from a file (schema evolution, partition columns). One task reads one {@link Split} (a byte range
 * of a file: the row groups whose middle lies in it, as parquet-mr and Spark assign them), one row
 * group in memory at a time, from any Hadoop file system.
 */
public final class ParquetItems implements Serializable {
    private static final long serialVersionUID = 1L;

    /** A byte range of one file; the row groups whose middle lies in it belong to it. */
    public record Split(String file, String sparkPath, long start, long length) implements Serializable {}

    private final String idColumn;
    private final String embeddingColumn;
    private final String labelColumn;
    private final DataType idType;
    private final DataType labelType;
    private final int dim;

    /**
     * @param labelColumn null or "" for none
     */
    public ParquetItems(String idColumn, String embeddingColumn, String labelColumn, DataType idType,
            DataType labelType, int dim) {
        this.idColumn = idColumn;
        this.embeddingColumn = embeddingColumn;
        this.labelColumn = labelColumn == null || labelColumn.isEmpty() ? null : labelColumn;
        this.idType = idType;
        this.labelType = labelType;
        this.dim = dim;
    }

    /**
     * @return null when this reader reads {@code schema} and the column chunks of {@code blocks}, else why not
     */
    public String unsupported(MessageType schema, List<BlockMetaData> blocks) {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            return "a big-endian machine";
        }
        String why = scalarUnsupported(schema, idColumn, idType);
        if (why == null && labelColumn != null) {
            why = scalarUnsupported(schema, labelColumn, labelType);
        }
        if (why != null) {
            return why;
        }
        if (!schema.containsField(embeddingColumn)) {
            return "no column '" + embeddingColumn + "'";
        }
        Type e = schema.getType(embeddingColumn);
        if (e.isPrimitive() || e.isRepetition(Type.Repetition.REPEATED)
                || !(e.getLogicalTypeAnnotation() instanceof LogicalTypeAnnotation.ListLogicalTypeAnnotation)
                || e.asGroupType().getFieldCount() != 1) {
            return "the embedding is not a standard list";
        }
        Type rep = e.asGroupType().getType(0);
        if (rep.isPrimitive() || !rep.isRepetition(Type.Repetition.REPEATED) || rep.asGroupType().getFieldCount() != 1
                || rep.getName().equals("array") || rep.getName().equals(embeddingColumn + "_tuple")) {
            return "the embedding is a 2-level (legacy) list";
        }
        Type el = rep.asGroupType().getType(0);
        if (!el.isPrimitive() || el.asPrimitiveType().getPrimitiveTypeName() != PrimitiveType.PrimitiveTypeName.FLOAT
                || el.isRepetition(Type.Repetition.REPEATED)) {
            return "the embedding's elements are not FLOAT";
        }
        String[] path = {embeddingColumn, rep.getName(), el.getName()};
        for (BlockMetaData b : blocks) {
            for (ColumnChunkMetaData c : b.getColumns()) {
                if (java.util.Arrays.equals(c.getPath().toArray(), path)) {
                    for (Encoding en : c.getEncodings()) {
                        if (en != Encoding.PLAIN && en != Encoding.RLE && en != Encoding.BIT_PACKED) {
                            return "the embedding's pages are " + en + "-encoded";
                        }
                    }
                }
            }
        }
        return null;
    }

    private static String scalarUnsupported(MessageType schema, String column, DataType sparkType) {
        if (!schema.containsField(column)) {
            return "no column '" + column + "'";
        }
        Type t = schema.getType(column);
        if (!t.isPrimitive() || t.isRepetition(Type.Repetition.REPEATED)) {
            return "column '" + column + "' is not a scalar";
        }
        PrimitiveType p = t.asPrimitiveType();
        LogicalTypeAnnotation a = p.getLogicalTypeAnnotation();
        boolean signedInt = a == null || a instanceof LogicalTypeAnnotation.IntLogicalTypeAnnotation i && i.isSigned();
        boolean ok = switch (p.getPrimitiveTypeName()) {
            case INT64 -> signedInt && sparkType == DataTypes.LongType;
            case INT32 -> signedInt && (sparkType == DataTypes.IntegerType || sparkType == DataTypes.ShortType
                    || sparkType == DataTypes.ByteType);
            case BINARY -> a instanceof LogicalTypeAnnotation.StringLogicalTypeAnnotation
                    && sparkType == DataTypes.StringType;
            default -> false;
        };
        return ok ? null : "column '" + column + "' is " + p + " (read as " + sparkType.simpleString() + ")";
    }

    /**
     * Spark's own read plan of {@code raw} (a Parquet table read by {@code spark.read().parquet}):
     * its file partitions, each a list of splits, so the fast reader runs as many tasks over the same
     * byte ranges as Spark's reader would.
     *
     * @return the partitions, or null when {@code raw} is not a plain Parquet scan (partition
     *     columns, bucketing) with why in {@code why[0]}
     */
    public static List<List<Split>> sparkPlan(org.apache.spark.sql.Dataset<org.apache.spark.sql.Row> raw,
            String[] why) {
        org.apache.spark.sql.execution.FileSourceScanExec scan = findScan(raw.queryExecution().sparkPlan());
        if (scan == null || !(scan.relation().fileFormat()
                instanceof org.apache.spark.sql.execution.datasources.parquet.ParquetFileFormat)) {
            why[0] = "not a plain Parquet scan";
            return null;
        }
        if (!scan.relation().partitionSchema().isEmpty() || scan.bucketedScan()) {
            why[0] = "the table has partition columns or buckets";
            return null;
        }
        if (!(scan.inputRDD() instanceof org.apache.spark.sql.execution.datasources.FileScanRDD rdd)) {
            why[0] = "an unexpected scan " + scan.inputRDD().getClass().getSimpleName();
            return null;
        }
        List<List<Split>> out = new ArrayList<>();
        scala.jdk.javaapi.CollectionConverters.asJava(rdd.filePartitions()).forEach(fp -> {
            List<Split> splits = new ArrayList<>();
            for (org.apache.spark.sql.execution.datasources.PartitionedFile f : fp.files()) {
                splits.add(new Split(f.toPath().toString(), f.urlEncodedPath(), f.start(), f.length()));
            }
            out.add(splits);
        });
        return out;
    }

    private static org.apache.spark.sql.execution.FileSourceScanExec findScan(
            org.apache.spark.sql.execution.SparkPlan p) {
        if (p instanceof org.apache.spark.sql.execution.FileSourceScanExec s) {
            return s;
        }
        for (org.apache.spark.sql.execution.SparkPlan c : scala.jdk.javaapi.CollectionConverters.asJava(p.children())) {
            org.apache.spark.sql.execution.FileSourceScanExec s = findScan(c);
            if (s != null) {
                return s;
            }
        }
        return null;
    }

    /**
     * What the footers of a table's files say.
     *
     * @param unsupported null when this reader reads every file, else the first file it cannot read and why
     * @param rows the rows of all files
     */
    public record Footers(String unsupported, long rows) implements Serializable {}

    /**
     * Reads every file's footer (a Spark job, one task per group of files) and checks its layout.
     *
     * @throws IllegalArgumentException naming a file whose footer cannot be read (truncated, not Parquet)
     */
    public Footers footers(org.apache.spark.api.java.JavaSparkContext jsc, List<List<Split>> plan,
            dev.rq.io.SerializableHadoopConf conf) {
        List<String> files = plan.stream().flatMap(List::stream).map(Split::file).distinct().toList();
        if (files.isEmpty()) {
            return new Footers(null, 0);
        }
        int tasks = Math.min(files.size(), Math.max(1, jsc.defaultParallelism()));
        List<Footers> each = jsc.parallelize(files, tasks).mapPartitions(it -> {
            String bad = null;
            long rows = 0;
            while (it.hasNext()) {
                String f = it.next();
                try (ParquetFileReader pr = ParquetFileReader.open(HadoopInputFile.fromPath(new Path(f), conf.get()))) {
                    String why = bad != null ? null : unsupported(pr.getFileMetaData().getSchema(), pr.getRowGroups());
                    bad = why == null ? bad : f + ": " + why;
                    rows += pr.getRecordCount();
                } catch (IOException | RuntimeException e) {
                    throw new IllegalArgumentException("cannot read the Parquet footer of " + f
                            + " (corrupt or truncated?): " + e.getMessage(), e);
                }
            }
            return List.of(new Footers(bad, rows)).iterator();
        }).collect();
        String bad = each.stream().map(Footers::unsupported).filter(java.util.Objects::nonNull).findFirst().orElse(null);
        return new Footers(bad, each.stream().mapToLong(Footers::rows).sum());
    }

    /**
     * @return the rows of {@code plan}, one Spark partition per entry (its splits in order), as
     *     {@link #read} gives them
     */
    public org.apache.spark.api.java.JavaRDD<InternalRow> rows(org.apache.spark.api.java.JavaSparkContext jsc,
            List<List<Split>> plan, dev.rq.io.SerializableHadoopConf conf) {
        List<Split[]> parts = plan.stream().map(l -> l.toArray(new Split[0])).toList();
        return jsc.parallelize(parts, Math.max(1, parts.size())).mapPartitions(it -> {
            List<Split> splits = new ArrayList<>();
            it.forEachRemaining(a -> splits.addAll(List.of(a)));
            return new Iterator<InternalRow>() {
                private int at;
                private Iterator<InternalRow> cur = java.util.Collections.emptyIterator();

                {
                    org.apache.spark.TaskContext tc = org.apache.spark.TaskContext.get();
                    if (tc != null) { // a failed or cancelled task closes its open file
                        tc.addTaskCompletionListener(new org.apache.spark.util.TaskCompletionListener() {
                            @Override
                            public void onTaskCompletion(org.apache.spark.TaskContext c) {
                                if (cur instanceof AutoCloseable a) {
                                    try {
                                        a.close();
                                    } catch (Exception e) {
                                        // closing after the task: nothing left to report to
                                    }
                                }
                            }
                        });
                    }
                }

                @Override
                public boolean hasNext() {
                    while (!cur.hasNext()) {
                        if (at == splits.size()) {
                            return false;
                        }
                        try {
                            cur = read(splits.get(at++), conf.get());
                        } catch (IOException e) {
                            throw new java.io.UncheckedIOException("cannot read " + splits.get(at - 1).file() + ": "
                                    + e.getMessage(), e);
                        }
                    }
                    return true;
                }

                @Override
                public InternalRow next() {
                    if (!hasNext()) {
                        throw new NoSuchElementException();
                    }
                    return cur.next();
                }
            };
        });
    }

    /**
     * The rows of one split.
     *
     * @return rows {@code (id, embedding, [label], reason, detail, file)}; <b>each row and its embedding
     *     are reused</b> by the next call to {@code next()} (copy what you keep, as with Spark's readers)
     */
    public Iterator<InternalRow> read(Split split, Configuration conf) throws IOException {
        return new Rows(split, conf);
    }

    /** Reads one split's row groups, one at a time. */
    private final class Rows implements Iterator<InternalRow>, AutoCloseable {
        private final Split split;
        private final ParquetFileReader reader;
        private final MessageType schema;
        private final ColumnDescriptor embDesc;
        private final ColumnDescriptor idDesc;
        private final ColumnDescriptor labelDesc;
        private final String createdBy;
        private final UTF8String file;
        /** Definition levels: below {@code defList} the embedding is null, at it empty; a value at {@code maxDef}. */
        private final int defList;
        private final int maxDef;
        private final boolean nullableElements;
        private final GenericInternalRow row;
        private final UnsafeArrayData array = new UnsafeArrayData();
        private byte[] buf = new byte[0];
        private final List<Integer> nullAt = new ArrayList<>();

        private long rowsLeft; // in the row group
        private PageReader pages;
        private ColumnReader ids;
        private ColumnReader labels;
        private long entriesLeft; // in the page
        private LevelRuns rep;
        private LevelRuns def;
        private ByteBuffer values;
        private int valuePos;
        private int valueEnd;
        private boolean closed;

        Rows(Split split, Configuration conf) throws IOException {
            this.split = split;
            this.file = UTF8String.fromString(split.sparkPath());
            HadoopInputFile in = HadoopInputFile.fromPath(new Path(split.file()), conf);
            try {
                this.reader = ParquetFileReader.open(in, HadoopReadOptions.builder(conf).withRange(split.start(),
                        split.start() + split.length()).build());
            } catch (IOException | RuntimeException e) {
                throw new IllegalStateException("cannot read the Parquet file " + split.file()
                        + " (corrupt or truncated?): " + e, e);
            }
            try {
                MessageType fileSchema = reader.getFileMetaData().getSchema();
                String why = unsupported(fileSchema, reader.getRowGroups());
                if (why != null) {
                    throw new IllegalStateException("the fast Parquet reader cannot read " + split.file() + ": " + why
                            + " (the job checked every file's layout before)");
                }
                List<Type> cols = new ArrayList<>(List.of(fileSchema.getType(idColumn), fileSchema.getType(embeddingColumn)));
                if (labelColumn != null) {
                    cols.add(fileSchema.getType(labelColumn));
                }
                this.schema = new MessageType(fileSchema.getName(), cols);
                reader.setRequestedSchema(schema);
                GroupType list = schema.getType(embeddingColumn).asGroupType();
                GroupType repeated = list.getType(0).asGroupType();
                String[] path = {embeddingColumn, repeated.getName(), repeated.getType(0).getName()};
                this.embDesc = schema.getColumnDescription(path);
                this.idDesc = schema.getColumnDescription(new String[] {idColumn});
                this.labelDesc = labelColumn == null ? null : schema.getColumnDescription(new String[] {labelColumn});
                this.defList = list.isRepetition(Type.Repetition.OPTIONAL) ? 1 : 0;
                this.nullableElements = repeated.getType(0).isRepetition(Type.Repetition.OPTIONAL);
                this.maxDef = embDesc.getMaxDefinitionLevel();
                this.createdBy = reader.getFileMetaData().getCreatedBy();
                this.row = new GenericInternalRow(labelColumn == null ? 6 : 7);
            } catch (RuntimeException e) {
                reader.close();
                throw e;
            }
        }

        @Override
        public boolean hasNext() {
            if (closed) {
                return false;
            }
            try {
                while (rowsLeft == 0) {
                    PageReadStore rg = reader.readNextRowGroup();
                    if (rg == null) {
                        close();
                        return false;
                    }
                    rowsLeft = rg.getRowCount();
                    pages = rg.getPageReader(embDesc);
                    ColumnReadStoreImpl store = new ColumnReadStoreImpl(rg, NO_CONVERTER, schema, createdBy);
                    ids = store.getColumnReader(idDesc);
                    labels = labelDesc == null ? null : store.getColumnReader(labelDesc);
                    entriesLeft = 0;
                }
                return true;
            } catch (IOException | RuntimeException e) {
                throw failure(e);
            }
        }

        /** @return {@code e}, or a wrapper naming the file when its message does not */
        private RuntimeException failure(Exception e) {
            if (e instanceof RuntimeException r && r.getMessage() != null && r.getMessage().contains(split.file())) {
                return r;
            }
            close();
            return new IllegalStateException("cannot read the Parquet file " + split.file() + " (corrupt or truncated?): "
                    + e, e);
        }

        @Override
        public InternalRow next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            try {
                return readRow();
            } catch (RuntimeException e) {
                throw failure(e);
            }
        }

        private InternalRow readRow() {
            rowsLeft--;
            Object id = scalar(ids, idType);
            Object label = labels == null ? null : scalar(labels, labelType);
            if (!nextEntry() || rep.value() != 0) {
                throw new IllegalStateException("corrupt Parquet file " + split.file()
                        + ": the embedding column has fewer rows than the row group");
            }
            int d = def.value();
            take(1);
            int len = 0;
            nullAt.clear();
            boolean nullEmbedding = d < defList;
            if (d > defList) {
                len = element(d, 0, 1);
                while (nextEntry() && rep.value() != 0) {
                    int n = (int) Math.min(entriesLeft, Math.min(rep.run(), def.run()));
                    len += element(def.value(), len, n);
                    take(n);
                }
            }
            row.update(0, id);
            int c = 2;
            if (labels != null) {
                row.update(c++, label);
            }
            String reason = null;
            String detail = null;
            if (id == null) {
                reason = ItemInput.NULL_ID;
                detail = "the id column '" + idColumn + "' is null";
            } else if (nullEmbedding) {
                reason = ItemInput.NULL_EMBEDDING;
                detail = "the embedding column '" + embeddingColumn + "' is null";
            } else if (len != dim) {
                reason = ItemInput.WRONG_LENGTH;
                detail = "length " + len + ", expected " + dim;
            }
            row.update(1, nullEmbedding ? null : pointArray(len));
            row.update(c++, reason == null ? null : UTF8String.fromString(reason));
            row.update(c++, detail == null ? null : UTF8String.fromString(detail));
            row.update(c, file);
            return row;
        }

        /** Appends {@code n} entries of definition level {@code d} at element {@code at}; @return n */
        private int element(int d, int at, int n) {
            ensure(at + n);
            if (d == maxDef) {
                if (valuePos + 4L * n > valueEnd) {
                    throw new IllegalStateException("corrupt Parquet file " + split.file()
                            + ": a page holds fewer values than its levels say");
                }
                values.get(valuePos, buf, 4 * at, 4 * n);
                valuePos += 4 * n;
            } else if (d == maxDef - 1 && nullableElements) {
                for (int i = 0; i < n; i++) {
                    nullAt.add(at + i);
                }
                java.util.Arrays.fill(buf, 4 * at, 4 * (at + n), (byte) 0);
            } else {
                throw new IllegalStateException("corrupt Parquet file " + split.file() + ": definition level " + d
                        + " inside a list");
            }
            return n;
        }

        /** Makes room for {@code n} floats in {@link #buf}. */
        private void ensure(int n) {
            if (buf.length < 4 * n) {
                buf = java.util.Arrays.copyOf(buf, Math.max(4 * n, Math.max(4 * dim, 2 * buf.length)));
            }
        }

        /** @return the row's {@code len} floats as an array (header and the floats in one reused byte array) */
        private UnsafeArrayData pointArray(int len) {
            int header = (int) UnsafeArrayData.calculateHeaderPortionInBytes(len);
            int size = header + (4 * len + 7) / 8 * 8;
            byte[] out = arrayBytes(size);
            java.util.Arrays.fill(out, 0, header, (byte) 0);
            java.util.Arrays.fill(out, header + 4 * len, size, (byte) 0);
            Platform.putLong(out, Platform.BYTE_ARRAY_OFFSET, len);
            System.arraycopy(buf, 0, out, header, 4 * len);
            array.pointTo(out, Platform.BYTE_ARRAY_OFFSET, size);
            for (int i : nullAt) {
                array.setNullAt(i);
            }
            return array;
        }

        private byte[] arrayBytes(int size) {
            if (arrayBytes.length < size) {
                arrayBytes = new byte[size];
            }
            return arrayBytes;
        }

        private byte[] arrayBytes = new byte[0];

        /** @return whether an entry is left in the column chunk (loads the next page when needed) */
        private boolean nextEntry() {
            while (entriesLeft == 0) {
                DataPage page = pages.readPage();
                if (page == null) {
                    return false;
                }
                load(page);
            }
            return true;
        }

        private void take(int n) {
            rep.skip(n);
            def.skip(n);
            entriesLeft -= n;
        }

        private void load(DataPage page) {
            entriesLeft = page.getValueCount();
            int defWidth = BytesUtils.getWidthFromMaxInt(maxDef);
            try {
                if (page instanceof DataPageV1 p) {
                    if (p.getValueEncoding() != Encoding.PLAIN || p.getRlEncoding() != Encoding.RLE
                            || p.getDlEncoding() != Encoding.RLE) {
                        throw new IllegalStateException("unexpected page encodings in " + split.file() + ": " + p);
                    }
                    ByteBuffer b = p.getBytes().toByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                    int at = b.position();
                    int repLen = b.getInt(at);
                    rep = new LevelRuns(b, at + 4, at + 4 + repLen, 1, split.file());
                    at += 4 + repLen;
                    int defLen = b.getInt(at);
                    def = new LevelRuns(b, at + 4, at + 4 + defLen, defWidth, split.file());
                    at += 4 + defLen;
                    values = b;
                    valuePos = at;
                    valueEnd = b.limit();
                } else {
                    DataPageV2 p = (DataPageV2) page;
                    if (p.getDataEncoding() != Encoding.PLAIN || p.isCompressed()) {
                        throw new IllegalStateException("unexpected page in " + split.file() + ": " + p);
                    }
                    ByteBuffer r = p.getRepetitionLevels().toByteBuffer();
                    rep = new LevelRuns(r, r.position(), r.limit(), 1, split.file());
                    ByteBuffer d = p.getDefinitionLevels().toByteBuffer();
                    def = new LevelRuns(d, d.position(), d.limit(), defWidth, split.file());
                    values = p.getData().toByteBuffer();
                    valuePos = values.position();
                    valueEnd = values.limit();
                }
            } catch (IOException e) {
                throw new java.io.UncheckedIOException("cannot read a page of " + split.file(), e);
            }
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                try {
                    reader.close();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
        }
    }

    /** @return the current value of a scalar column as Spark's internal value (null for null), and moves on */
    private static Object scalar(ColumnReader r, DataType t) {
        Object v;
        if (r.getCurrentDefinitionLevel() < r.getDescriptor().getMaxDefinitionLevel()) {
            v = null;
        } else if (t == DataTypes.LongType) {
            v = r.getLong();
        } else if (t == DataTypes.IntegerType) {
            v = r.getInteger();
        } else if (t == DataTypes.ShortType) {
            v = (short) r.getInteger();
        } else if (t == DataTypes.ByteType) {
            v = (byte) r.getInteger();
        } else {
            Binary b = r.getBinary();
            v = UTF8String.fromBytes(b.getBytes());
        }
        r.consume();
        return v;
    }

    /** parquet-mr's column readers want a converter; values are read with the getters, never converted. */
    private static final GroupConverter NO_CONVERTER = new GroupConverter() {
        @Override
        public Converter getConverter(int fieldIndex) {
            return new PrimitiveConverter() {};
        }

        @Override
        public void start() {}

        @Override
        public void end() {}
    };
}
