package dev.rq.data.items;

import dev.rq.io.StagedOutput;
import dev.rq.model.config.SidDataConfig;
import dev.rq.tables.TableFiles;
import java.io.IOException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Prepares an item table for semantic-ID training ({@link PreparedItems}): every input row is
 * checked ({@link ItemInput}: ids and lengths in SQL, the elements by the tasks as they copy them,
 * {@link InternalRows#copyChecked}); Spark tasks write the valid rows with their embeddings as float32
 * bytes in row groups of about 8 MB ({@link TableFiles}), and the rejected rows (id, embedding,
 * label, reason, detail, source file) to {@code _rejects/}; the driver then reconciles the input's
 * row count (Parquet footers) with the rows written, requires unique ids, and commits the folder
 * with {@code _items.json} last ({@link StagedOutput}: no directory rename). A folder with a
 * manifest from the same input and columns is reused (resume).
 */
public final class ItemPreparation {

    private static final Logger LOG = LoggerFactory.getLogger(ItemPreparation.class);

    /** Target row-group size of the prepared copy: the unit the training loader reads. */
    static final long ROW_GROUP_BYTES = 8L << 20;

    private ItemPreparation() {}

    /**
     * Prepares {@code inputUri} into {@code dirUri}, or reuses an earlier preparation of the same input.
     *
     * @return the manifest
     * @throws IllegalArgumentException on a bad input (missing column, duplicate ids) or when the
     *     folder holds items prepared from another input
     */
    public static PreparedItems.Manifest run(SparkSession spark, String inputUri, SidDataConfig cols, int dim,
            String dirUri) throws IOException {
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        Path dir = new Path(dirUri);
        FileSystem fs = dir.getFileSystem(conf);
        String source = qualify(inputUri, conf);
        if (fs.exists(new Path(dir, PreparedItems.MANIFEST))) {
            PreparedItems.Manifest m = PreparedItems.Manifest.read(dir, conf);
            if (m.source().equals(source) && m.idColumn().equals(cols.idColumn())
                    && m.embeddingColumn().equals(cols.embeddingColumn()) && m.labelColumn().equals(cols.labelColumn())
                    && m.dim() == dim) {
                LOG.info("reusing the prepared items of {} in {} ({} valid, {} rejected)", source, dirUri,
                        m.accepted(), m.rejected());
                return m;
            }
            throw new IllegalArgumentException(dirUri + " holds items prepared from " + m.source() + " (columns "
                    + m.idColumn() + ", " + m.embeddingColumn() + ", dim " + m.dim() + "), not from " + source
                    + "; use another --out");
        }
        ItemInput in = ItemInput.open(spark, inputUri, cols, dim);
        long read = in.raw().count(); // from the Parquet footers
        Dataset<Row> checked = in.checked(false); // the elements: by the tasks below, as they copy them
        try (StagedOutput out = StagedOutput.begin(dirUri, conf, OUTPUT)) {
            Configuration blocks = new Configuration(conf);
            blocks.setLong("parquet.block.size", ROW_GROUP_BYTES);
            JavaRDD<Row> valid = checked.filter(functions.col(ItemInput.REASON).isNull())
                    .select(columns(in)).queryExecution().toRdd().toJavaRDD()
                    .mapPartitions(new ToPrepared(in.idType(), in.labelType(), dim, in.doubleEmbeddings()));
            List<TableFiles.DataFile> data = TableFiles.write(valid, out, PreparedItems.DATA, preparedSchema(in), blocks);
            Dataset<Row> all = checked.select(rejectColumns(in));
            JavaRDD<Row> rejects = all.queryExecution().toRdd().toJavaRDD()
                    .mapPartitions(new Rejects(in.idType(), in.labelType(), dim, in.doubleEmbeddings()));
            List<TableFiles.DataFile> rejected = TableFiles.write(rejects, out, PreparedItems.REJECTS, all.schema(),
                    conf);

            List<PreparedItems.FileEntry> files = footers(out, data, conf);
            long accepted = files.stream().flatMap(f -> f.rowGroups().stream()).mapToLong(Long::longValue).sum();
            Map<String, Long> byReason = new TreeMap<>();
            if (!rejected.isEmpty()) {
                Dataset<Row> r = spark.read().parquet(rejected.stream().map(f -> out.path(f.path()).toString())
                        .toArray(String[]::new));
                for (Row row : r.groupBy(ItemInput.REASON).count().collectAsList()) {
                    byReason.put(row.getString(0), row.getLong(1));
                }
            }
            long rejectedRows = byReason.values().stream().mapToLong(Long::longValue).sum();
            if (accepted + rejectedRows != read) {
                throw new IllegalStateException("row count check failed for " + inputUri + ": read " + read
                        + " rows, wrote " + accepted + " valid + " + rejectedRows + " rejected");
            }
            if (!data.isEmpty()) {
                in.requireUniqueIds(spark.read().parquet(data.stream().map(f -> out.path(f.path()).toString())
                        .toArray(String[]::new)).withColumnRenamed(PreparedItems.ID, cols.idColumn()), "the item table");
            }
            PreparedItems.Manifest m = new PreparedItems.Manifest(PreparedItems.FORMAT, PreparedItems.VERSION, source,
                    cols.idColumn(), cols.embeddingColumn(), cols.labelColumn(), dim, read, accepted, rejectedRows,
                    byReason, files, TableFiles.paths(rejected), Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
            List<String> written = new ArrayList<>(TableFiles.paths(data));
            written.addAll(TableFiles.paths(rejected));
            out.commit(written, m.toJson()); // the manifest last
            LOG.info("prepared {} items of {} into {} ({} rejected: {})", accepted, source, dirUri, rejectedRows,
                    byReason);
            return m;
        }
    }

    /** What a prepared item folder is, for {@link StagedOutput}. */
    static final StagedOutput.Spec OUTPUT = new StagedOutput.Spec(PreparedItems.MANIFEST, "--out",
            "a prepared item table", false);

    /** The columns a rejected row keeps: id, embedding, [label], reason, detail, source file. */
    static org.apache.spark.sql.Column[] rejectColumns(ItemInput in) {
        List<org.apache.spark.sql.Column> c = new ArrayList<>(List.of(columns(in)));
        c.add(functions.col(ItemInput.REASON));
        c.add(functions.col(ItemInput.DETAIL));
        c.add(functions.input_file_name().as(ItemInput.SOURCE_FILE));
        return c.toArray(new org.apache.spark.sql.Column[0]);
    }

    private static org.apache.spark.sql.Column[] columns(ItemInput in) {
        List<org.apache.spark.sql.Column> c = new ArrayList<>();
        c.add(functions.col(ItemInput.quote(in.columns().idColumn())));
        c.add(functions.col(ItemInput.quote(in.columns().embeddingColumn())));
        if (in.columns().hasLabel()) {
            c.add(functions.col(ItemInput.quote(in.columns().labelColumn())));
        }
        return c.toArray(new org.apache.spark.sql.Column[0]);
    }

    static StructType preparedSchema(ItemInput in) {
        List<StructField> f = new ArrayList<>();
        f.add(DataTypes.createStructField(PreparedItems.ID, in.idType(), false));
        f.add(DataTypes.createStructField(PreparedItems.EMBEDDING, DataTypes.BinaryType, false));
        if (in.labelType() != null) {
            f.add(DataTypes.createStructField(PreparedItems.LABEL, in.labelType(), true));
        }
        return DataTypes.createStructType(f);
    }

    /**
     * (id, embedding array, [label]) internal rows of the right length → prepared rows (embedding as
     * float32 bytes); a row with a null or non-finite element is left out here (its reject is written
     * by {@link Rejects}, which makes the same check).
     */
    static final class ToPrepared extends ItemRows {
        private static final long serialVersionUID = 2L;

        ToPrepared(DataType idType, DataType labelType, int dim, boolean doubles) {
            super(idType, labelType, dim, doubles);
        }

        @Override
        public Iterator<Row> call(Iterator<InternalRow> rows) {
            float[] x = new float[dim];
            return new Filtered(rows) {
                @Override
                Row convert(InternalRow r) {
                    if (InternalRows.copyChecked(r.getArray(1), dim, doubles, x, 0) != null) {
                        return null;
                    }
                    byte[] emb = PreparedItems.toBytes(x);
                    Object id = InternalRows.value(r, 0, idType);
                    return labelType == null ? RowFactory.create(id, emb)
                            : RowFactory.create(id, emb, r.isNullAt(2) ? null : InternalRows.value(r, 2, labelType));
                }
            };
        }
    }

    /**
     * Every input row as (id, embedding, [label], reason, detail, source file) → the rejected ones:
     * those the SQL checks rejected (id, length), and those with a null or non-finite element ({@link
     * InternalRows#copyChecked}, with {@link ItemInput}'s reasons and details).
     */
    static final class Rejects extends ItemRows {
        private static final long serialVersionUID = 1L;

        Rejects(DataType idType, DataType labelType, int dim, boolean doubles) {
            super(idType, labelType, dim, doubles);
        }

        @Override
        public Iterator<Row> call(Iterator<InternalRow> rows) {
            float[] x = new float[dim];
            int rc = labelType == null ? 2 : 3; // the reason column
            return new Filtered(rows) {
                @Override
                Row convert(InternalRow r) {
                    String reason;
                    String detail;
                    if (!r.isNullAt(rc)) {
                        reason = r.getUTF8String(rc).toString();
                        detail = r.isNullAt(rc + 1) ? null : r.getUTF8String(rc + 1).toString();
                    } else {
                        reason = InternalRows.copyChecked(r.getArray(1), dim, doubles, x, 0);
                        if (reason == null) {
                            return null;
                        }
                        detail = reason.equals(ItemInput.NULL_ELEMENT) ? ItemInput.NULL_ELEMENT_DETAIL
                                : ItemInput.NON_FINITE_DETAIL;
                    }
                    Object id = r.isNullAt(0) ? null : InternalRows.value(r, 0, idType);
                    Object emb = null;
                    if (!r.isNullAt(1)) {
                        DataType et = doubles ? DataTypes.DoubleType : DataTypes.FloatType;
                        emb = scala.collection.immutable.ArraySeq.unsafeWrapArray(r.getArray(1).toObjectArray(et));
                    }
                    String file = r.isNullAt(rc + 2) ? null : r.getUTF8String(rc + 2).toString();
                    if (labelType == null) {
                        return RowFactory.create(id, emb, reason, detail, file);
                    }
                    Object label = r.isNullAt(2) ? null : InternalRows.value(r, 2, labelType);
                    return RowFactory.create(id, emb, label, reason, detail, file);
                }
            };
        }
    }

    /**
     * A task function over (id, embedding array, [label], …) internal rows: the id and label types, the
     * embedding dimension and whether the array holds doubles (else floats).
     */
    private abstract static class ItemRows implements FlatMapFunction<Iterator<InternalRow>, Row> {
        private static final long serialVersionUID = 1L;
        final DataType idType;
        final DataType labelType;
        final int dim;
        final boolean doubles;

        ItemRows(DataType idType, DataType labelType, int dim, boolean doubles) {
            this.idType = idType;
            this.labelType = labelType;
            this.dim = dim;
            this.doubles = doubles;
        }
    }

    /** The non-null results of {@link #convert} over {@code rows}, lazily. */
    private abstract static class Filtered implements Iterator<Row> {
        private final Iterator<InternalRow> rows;
        private Row next;

        Filtered(Iterator<InternalRow> rows) {
            this.rows = rows;
        }

        /** @return the output row of {@code r}, or null to leave it out */
        abstract Row convert(InternalRow r);

        @Override
        public boolean hasNext() {
            while (next == null && rows.hasNext()) {
                next = convert(rows.next());
            }
            return next != null;
        }

        @Override
        public Row next() {
            if (!hasNext()) {
                throw new java.util.NoSuchElementException();
            }
            Row r = next;
            next = null;
            return r;
        }
    }

    private static List<PreparedItems.FileEntry> footers(StagedOutput out, List<TableFiles.DataFile> files,
            Configuration conf) throws IOException {
        List<PreparedItems.FileEntry> entries = new ArrayList<>();
        for (TableFiles.DataFile f : files) {
            try (ParquetFileReader r = ParquetFileReader.open(HadoopInputFile.fromPath(out.path(f.path()), conf))) {
                entries.add(new PreparedItems.FileEntry(f.path(),
                        r.getRowGroups().stream().map(BlockMetaData::getRowCount).toList()));
            }
        }
        return entries;
    }

    public static String qualify(String uri, Configuration conf) throws IOException {
        Path p = new Path(uri);
        return p.getFileSystem(conf).makeQualified(p).toString();
    }
}
