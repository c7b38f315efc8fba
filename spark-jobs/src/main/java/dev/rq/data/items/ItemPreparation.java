package dev.rq.data.items;

import dev.rq.io.StagedOutput;
import dev.rq.model.config.SidDataConfig;
import dev.rq.tables.TableFiles;
import java.io.IOException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
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
 * checked ({@link ItemInput}); Spark tasks write the valid rows with their embeddings as float32
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
        Dataset<Row> checked = in.checked();
        try (StagedOutput out = StagedOutput.begin(dirUri, conf, OUTPUT)) {
            Configuration blocks = new Configuration(conf);
            blocks.setLong("parquet.block.size", ROW_GROUP_BYTES);
            JavaRDD<Row> valid = checked.filter(functions.col(ItemInput.REASON).isNull())
                    .select(columns(in)).queryExecution().toRdd().toJavaRDD()
                    .map(new ToPrepared(in.idType(), in.labelType(), dim, in.doubleEmbeddings()));
            List<TableFiles.DataFile> data = TableFiles.write(valid, out, PreparedItems.DATA, preparedSchema(in), blocks);
            Dataset<Row> rejects = checked.filter(functions.col(ItemInput.REASON).isNotNull())
                    .select(rejectColumns(in));
            List<TableFiles.DataFile> rejected = TableFiles.write(rejects.toJavaRDD(), out, PreparedItems.REJECTS,
                    rejects.schema(), conf);

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

    /** (id, embedding array, [label]) internal rows → prepared rows (embedding as float32 bytes). */
    static final class ToPrepared implements org.apache.spark.api.java.function.Function<InternalRow, Row> {
        private static final long serialVersionUID = 1L;
        private final DataType idType;
        private final DataType labelType;
        private final int dim;

        private final boolean doubles;

        ToPrepared(DataType idType, DataType labelType, int dim, boolean doubles) {
            this.doubles = doubles;
            this.idType = idType;
            this.labelType = labelType;
            this.dim = dim;
        }

        @Override
        public Row call(InternalRow r) {
            byte[] emb = PreparedItems.toBytes(InternalRows.floats(r.getArray(1), dim, doubles));
            Object id = InternalRows.value(r, 0, idType);
            return labelType == null ? RowFactory.create(id, emb)
                    : RowFactory.create(id, emb, r.isNullAt(2) ? null : InternalRows.value(r, 2, labelType));
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
