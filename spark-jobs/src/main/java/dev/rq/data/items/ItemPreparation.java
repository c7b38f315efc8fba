package dev.rq.data.items;

import dev.rq.model.config.SidDataConfig;
import java.io.IOException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SaveMode;
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
 * checked ({@link ItemInput}); valid rows are written with their embeddings as float32 bytes in
 * row groups of about {@value #ROW_GROUP_BYTES} bytes, rejected rows (all their columns, reason and
 * detail) to {@code _rejects/}; the driver then reconciles the input's row count (Parquet footers)
 * with the rows written (footers of both outputs), requires unique ids, and writes {@code
 * _items.json} last. A folder with a manifest from the same input and columns is reused (resume).
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
        fs.delete(dir, true); // an unfinished earlier attempt
        ItemInput in = ItemInput.open(spark, inputUri, cols, dim);
        long read = in.raw().count(); // from the Parquet footers
        Dataset<Row> checked = in.checked();

        StructType schema = preparedSchema(in);
        JavaRDD<Row> valid = checked.filter(functions.col(ItemInput.REASON).isNull())
                .select(columns(in)).queryExecution().toRdd().toJavaRDD()
                .map(new ToPrepared(in.idType(), in.labelType(), dim, in.doubleEmbeddings()));
        spark.createDataFrame(valid, schema).write().mode(SaveMode.ErrorIfExists)
                .option("parquet.block.size", Long.toString(ROW_GROUP_BYTES))
                .parquet(dir.toString());
        Dataset<Row> rejects = checked.filter(functions.col(ItemInput.REASON).isNotNull());
        rejects.write().mode(SaveMode.ErrorIfExists).parquet(new Path(dir, PreparedItems.REJECTS).toString());

        List<PreparedItems.FileEntry> files = footers(fs, dir, conf);
        long accepted = files.stream().flatMap(f -> f.rowGroups().stream()).mapToLong(Long::longValue).sum();
        Map<String, Long> byReason = new TreeMap<>();
        Path rejectsDir = new Path(dir, PreparedItems.REJECTS);
        Dataset<Row> written = spark.read().parquet(rejectsDir.toString());
        for (Row r : written.groupBy(ItemInput.REASON).count().collectAsList()) {
            byReason.put(r.getString(0), r.getLong(1));
        }
        long rejected = byReason.values().stream().mapToLong(Long::longValue).sum();
        if (accepted + rejected != read) {
            fs.delete(dir, true);
            throw new IllegalStateException("row count check failed for " + inputUri + ": read " + read
                    + " rows, wrote " + accepted + " valid + " + rejected + " rejected");
        }
        try {
            in.requireUniqueIds(spark.read().parquet(dir.toString()).withColumnRenamed(PreparedItems.ID,
                    cols.idColumn()), "the item table");
        } catch (IllegalArgumentException e) {
            fs.delete(dir, true);
            throw e;
        }
        PreparedItems.Manifest m = new PreparedItems.Manifest(PreparedItems.FORMAT, PreparedItems.VERSION, source,
                cols.idColumn(), cols.embeddingColumn(), cols.labelColumn(), dim, read, accepted, rejected, byReason,
                files, Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
        m.write(dir, conf);
        LOG.info("prepared {} items of {} into {} ({} rejected: {})", accepted, source, dirUri, rejected, byReason);
        return m;
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

    private static List<PreparedItems.FileEntry> footers(FileSystem fs, Path dir, Configuration conf)
            throws IOException {
        FileStatus[] st = fs.listStatus(dir, p -> p.getName().endsWith(".parquet") && !p.getName().startsWith("_")
                && !p.getName().startsWith("."));
        Arrays.sort(st, (a, b) -> a.getPath().getName().compareTo(b.getPath().getName()));
        List<PreparedItems.FileEntry> out = new ArrayList<>();
        for (FileStatus s : st) {
            try (ParquetFileReader r = ParquetFileReader.open(HadoopInputFile.fromPath(s.getPath(), conf))) {
                List<Long> groups = r.getRowGroups().stream().map(BlockMetaData::getRowCount).toList();
                if (!groups.isEmpty()) {
                    out.add(new PreparedItems.FileEntry(s.getPath().getName(), groups));
                }
            }
        }
        return out;
    }

    public static String qualify(String uri, Configuration conf) throws IOException {
        Path p = new Path(uri);
        return p.getFileSystem(conf).makeQualified(p).toString();
    }
}
