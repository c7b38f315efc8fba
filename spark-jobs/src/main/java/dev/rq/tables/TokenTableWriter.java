package dev.rq.tables;

import dev.rq.io.HadoopDir;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.io.StagedOutput;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.api.WriteSupport;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.hadoop.util.HadoopOutputFile;
import org.apache.parquet.io.OutputFile;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.io.api.RecordConsumer;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Type;
import org.apache.parquet.schema.Types;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.function.Function2;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Writes token-table rows ({@link TokenTableSchema}, {@code split} last) from Spark tasks straight
 * into a {@link StagedOutput}, without Spark's rename-based commit protocol: each task writes, per
 * split it meets, one zstd Parquet file {@code [prefix/]split=<s>/part-<task>[-<commit>].zstd.parquet}
 * (named by {@link StagedOutput#fileName}, written in one piece by {@link HadoopDir#writePath}) and
 * returns a {@link TokenManifest.DataFile} per file. The driver lists exactly the files of the
 * successful attempts in the manifest, so a retried task never adds rows: its attempts write the
 * same name, and only the attempt Spark accepted is listed.
 *
 * <p>The files are what Spark's Parquet writer produces for the same schema (three-level lists,
 * {@code INTEGER(16)} shorts, the Spark schema with its field metadata under {@code
 * org.apache.spark.sql.parquet.row.metadata}), so Spark, pyarrow and the Hugging Face
 * {@code datasets} library read them as before.
 */
public final class TokenTableWriter implements Function2<Integer, Iterator<Row>, Iterator<TokenManifest.DataFile>> {
    private static final long serialVersionUID = 1L;

    /** Footer key under which Spark stores (and reads back) the Catalyst schema of a Parquet file. */
    static final String SPARK_ROW_METADATA = "org.apache.spark.sql.parquet.row.metadata";
    private static final Pattern SPLIT_VALUE = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]*");

    private final String root;
    private final String prefix;
    private final String suffix;
    private final StructType schema;
    private final SerializableHadoopConf conf;

    private TokenTableWriter(String root, String prefix, String suffix, StructType schema, Configuration conf) {
        this.root = root;
        this.prefix = prefix;
        this.suffix = suffix;
        this.schema = schema;
        this.conf = new SerializableHadoopConf(conf);
    }

    /**
     * Writes {@code rows} (one Spark job) and returns the files written, in task order.
     *
     * @param out the staged output the table belongs to
     * @param table the table's folder relative to {@code out.root()} ({@code ""} when the table is the output)
     * @param schema the rows' schema ({@link TokenTableSchema#schema}, with the {@code split} column last)
     */
    public static List<TokenManifest.DataFile> write(JavaRDD<Row> rows, StagedOutput out, String table,
            StructType schema, Configuration conf) {
        String suffix = out.nameSuffix();
        TokenTableWriter w = new TokenTableWriter(out.uri(), table, suffix, schema, conf);
        return rows.mapPartitionsWithIndex(w, false).collect();
    }

    /** @return the paths of {@code files} relative to the output root (for {@link StagedOutput#commit}) */
    public static List<String> outputPaths(String table, List<TokenManifest.DataFile> files) {
        return files.stream().map(f -> table.isEmpty() ? f.path() : table + "/" + f.path()).toList();
    }

    @Override
    public Iterator<TokenManifest.DataFile> call(Integer task, Iterator<Row> rows) throws IOException {
        Configuration c = conf.get();
        Path base = prefix.isEmpty() ? new Path(root) : new Path(root, prefix);
        FileSystem fs = base.getFileSystem(c);
        int splitIndex = schema.fieldIndex(TokenTableSchema.SPLIT);
        StructType data = dataSchema(schema);
        Map<String, PartFile> open = new LinkedHashMap<>(); // by split
        boolean ok = false;
        try {
            while (rows.hasNext()) {
                Row r = rows.next();
                String split = r.getString(splitIndex);
                PartFile f = open.get(split);
                if (f == null) {
                    if (split == null || !SPLIT_VALUE.matcher(split).matches()) {
                        throw new IllegalArgumentException("split value '" + split + "' is not a plain name");
                    }
                    String rel = TokenTableSchema.SPLIT + "=" + split + "/" + partName(task, suffix);
                    f = PartFile.open(fs, base, rel, data, splitIndex, c, rowGroupBytes(data), List.of());
                    open.put(split, f);
                }
                f.write(r);
            }
            List<TokenManifest.DataFile> files = new ArrayList<>();
            for (Map.Entry<String, PartFile> e : open.entrySet()) {
                long bytes = e.getValue().publish();
                files.add(new TokenManifest.DataFile(e.getValue().rel(), e.getKey(), e.getValue().rows(), bytes));
            }
            ok = true;
            return files.iterator();
        } finally {
            if (!ok) {
                open.values().forEach(PartFile::abort);
            }
        }
    }

    /** @return the name of task {@code task}'s file: {@code part-<task>[-<commit>].zstd.parquet} */
    static String partName(int task, String suffix) {
        return String.format(Locale.ROOT, "part-%05d%s.zstd.parquet", task, suffix);
    }

    /**
     * One task's Parquet file of a staged output: written at {@link HadoopDir#writePath} in one piece,
     * published under its name by {@link #publish} (the object-store-safe sequence every table writer of
     * this package uses), or left unlisted by {@link #abort} when the attempt fails.
     */
    static final class PartFile {
        private final FileSystem fs;
        private final String rel;
        private final Path target;
        private final Path writeAt;
        private final ParquetWriter<Row> writer;
        private long rows;

        private PartFile(FileSystem fs, String rel, Path target, Path writeAt, ParquetWriter<Row> writer) {
            this.fs = fs;
            this.rel = rel;
            this.target = target;
            this.writeAt = writeAt;
            this.writer = writer;
        }

        /**
         * @param base the folder {@code rel} is relative to
         * @param data the columns written; {@code skip}: index of the row's column not written, or -1
         * @param rowGroupBytes row-group size (0: Parquet's defaults)
         * @param plain column paths written without a dictionary (columns of unique values, where
         *     Parquet would build a dictionary only to fall back to plain encoding)
         */
        static PartFile open(FileSystem fs, Path base, String rel, StructType data, int skip, Configuration c,
                long rowGroupBytes, List<String> plain) throws IOException {
            Path target = new Path(base, rel);
            Path writeAt = HadoopDir.writePath(fs, target);
            return new PartFile(fs, rel, target, writeAt, writer(HadoopOutputFile.fromPath(writeAt, c), data, skip, c,
                    rowGroupBytes, plain));
        }

        void write(Row r) throws IOException {
            writer.write(r);
            rows++;
        }

        /** @return the file's path relative to the base */
        String rel() {
            return rel;
        }

        /** @return rows written */
        long rows() {
            return rows;
        }

        /** Closes and publishes the file; @return its size in bytes */
        long publish() throws IOException {
            writer.close();
            HadoopDir.publish(fs, writeAt, target);
            return fs.getFileStatus(target).getLen();
        }

        /** Closes the file of a failed attempt (never listed), ignoring errors. */
        void abort() {
            try {
                writer.close();
            } catch (IOException | RuntimeException ignored) {
                // the attempt failed already; its file is never listed
            }
        }
    }

    /** @return {@code schema} without the {@code split} partition column */
    static StructType dataSchema(StructType schema) {
        List<StructField> f = new ArrayList<>();
        for (StructField s : schema.fields()) {
            if (!s.name().equals(TokenTableSchema.SPLIT)) {
                f.add(s);
            }
        }
        return DataTypes.createStructType(f);
    }

    /**
     * Row-group size of tables with latents: the training loader reads and shuffles whole row groups
     * (docs/data.md §5), so they are kept small (in256: about 250 rows of 33 KB).
     */
    static final long ROW_GROUP_BYTES_LATENTS = 8L << 20;
    /** Row-group size of tables without latents (in256: about 3,000 rows; 4 bytes per code in memory). */
    static final long ROW_GROUP_BYTES_CODES = 1L << 20;

    /** @return the row-group size of a token table of columns {@code data} */
    static long rowGroupBytes(StructType data) {
        boolean latents = java.util.Arrays.asList(data.fieldNames()).contains(TokenTableSchema.LATENTS);
        return latents ? ROW_GROUP_BYTES_LATENTS : ROW_GROUP_BYTES_CODES;
    }

    /** @param rowGroupBytes row-group size, checked after every row; 0: Parquet's defaults */
    private static ParquetWriter<Row> writer(OutputFile file, StructType data, int skip, Configuration conf,
            long rowGroupBytes, List<String> plain) throws IOException {
        Builder b = new Builder(file, new RowWriteSupport(data, skip))
                .withConf(conf)
                .withCompressionCodec(CompressionCodecName.ZSTD)
                .withWriteMode(ParquetFileWriter.Mode.OVERWRITE);
        for (String column : plain) {
            b = b.withDictionaryEncoding(column, false);
        }
        if (rowGroupBytes > 0) {
            b = b.withRowGroupSize(rowGroupBytes).withMinRowCountForPageSizeCheck(1);
        }
        return b.build();
    }

    private static final class Builder extends ParquetWriter.Builder<Row, Builder> {
        private final RowWriteSupport support;

        Builder(OutputFile file, RowWriteSupport support) {
            super(file);
            this.support = support;
        }

        @Override
        protected Builder self() {
            return this;
        }

        @Override
        protected WriteSupport<Row> getWriteSupport(Configuration conf) {
            return support;
        }
    }

    /**
     * Spark {@link Row}s to Parquet for the types of the token schema (and of the eval table):
     * string, bigint, int, smallint, double, binary and arrays of smallint / int / bigint (Java
     * arrays or lists), nulls in nullable columns; also tinyint and float (and arrays of them) for
     * the other tables of {@code tables} ({@link TableFiles}).
     */
    static final class RowWriteSupport extends WriteSupport<Row> {
        private final StructType data;
        private final int skip;
        private final MessageType parquet;
        private RecordConsumer out;

        /**
         * @param data the columns written, in row order without the skipped one
         * @param skip index in the row of the column not written (the partition column), or -1
         */
        RowWriteSupport(StructType data, int skip) {
            this.data = data;
            this.skip = skip;
            List<Type> fields = new ArrayList<>();
            for (StructField f : data.fields()) {
                fields.add(parquetType(f));
            }
            this.parquet = new MessageType("spark_schema", fields);
        }

        /** @return the Parquet type Spark writes for {@code f} (standard, non-legacy layout) */
        static Type parquetType(StructField f) {
            org.apache.parquet.schema.Type.Repetition rep = f.nullable() ? Type.Repetition.OPTIONAL
                    : Type.Repetition.REQUIRED;
            DataType t = f.dataType();
            if (t instanceof ArrayType at) {
                Type element = primitive(at.elementType(), at.containsNull() ? Type.Repetition.OPTIONAL
                        : Type.Repetition.REQUIRED, "element");
                return Types.buildGroup(rep).as(LogicalTypeAnnotation.listType())
                        .addField(Types.repeatedGroup().addField(element).named("list"))
                        .named(f.name());
            }
            return primitive(t, rep, f.name());
        }

        private static Type primitive(DataType t, Type.Repetition rep, String name) {
            if (t.equals(DataTypes.StringType)) {
                return Types.primitive(PrimitiveTypeName.BINARY, rep).as(LogicalTypeAnnotation.stringType()).named(name);
            } else if (t.equals(DataTypes.LongType)) {
                return Types.primitive(PrimitiveTypeName.INT64, rep).named(name);
            } else if (t.equals(DataTypes.IntegerType)) {
                return Types.primitive(PrimitiveTypeName.INT32, rep).named(name);
            } else if (t.equals(DataTypes.ShortType)) {
                return Types.primitive(PrimitiveTypeName.INT32, rep).as(LogicalTypeAnnotation.intType(16, true))
                        .named(name);
            } else if (t.equals(DataTypes.BinaryType)) {
                return Types.primitive(PrimitiveTypeName.BINARY, rep).named(name);
            } else if (t.equals(DataTypes.ByteType)) {
                return Types.primitive(PrimitiveTypeName.INT32, rep).as(LogicalTypeAnnotation.intType(8, true))
                        .named(name);
            } else if (t.equals(DataTypes.FloatType)) {
                return Types.primitive(PrimitiveTypeName.FLOAT, rep).named(name);
            } else if (t.equals(DataTypes.DoubleType)) {
                return Types.primitive(PrimitiveTypeName.DOUBLE, rep).named(name);
            }
            throw new IllegalArgumentException("column " + name + ": type " + t.simpleString()
                    + " is not supported by the token table writer");
        }

        @Override
        public WriteContext init(Configuration configuration) {
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put(SPARK_ROW_METADATA, data.json());
            meta.put("org.apache.spark.version", org.apache.spark.package$.MODULE$.SPARK_VERSION());
            return new WriteContext(parquet, meta);
        }

        @Override
        public void prepareForWrite(RecordConsumer recordConsumer) {
            this.out = recordConsumer;
        }

        @Override
        public void write(Row row) {
            out.startMessage();
            StructField[] fields = data.fields();
            for (int i = 0, col = 0; i < fields.length; i++, col++) {
                if (col == skip) {
                    col++;
                }
                Object v = row.get(col);
                if (v == null) {
                    if (!fields[i].nullable()) {
                        throw new IllegalArgumentException("column " + fields[i].name() + " is null");
                    }
                    continue;
                }
                out.startField(fields[i].name(), i);
                if (fields[i].dataType() instanceof ArrayType at) {
                    writeList(at.elementType(), v);
                } else {
                    value(fields[i].dataType(), v);
                }
                out.endField(fields[i].name(), i);
            }
            out.endMessage();
        }

        private void writeList(DataType element, Object v) {
            if (v instanceof scala.collection.Seq<?> seq) { // rows of a DataFrame hold Scala sequences
                v = scala.jdk.javaapi.CollectionConverters.asJava(seq);
            }
            out.startGroup();
            if (v instanceof float[] fs && element.equals(DataTypes.FloatType)) { // embeddings: no boxing
                if (fs.length > 0) {
                    out.startField("list", 0);
                    for (float f : fs) {
                        out.startGroup();
                        out.startField("element", 0);
                        out.addFloat(f);
                        out.endField("element", 0);
                        out.endGroup();
                    }
                    out.endField("list", 0);
                }
                out.endGroup();
                return;
            }
            int n = v instanceof List<?> l ? l.size() : java.lang.reflect.Array.getLength(v);
            if (n > 0) {
                out.startField("list", 0);
                for (int j = 0; j < n; j++) {
                    Object e = v instanceof List<?> l ? l.get(j) : java.lang.reflect.Array.get(v, j);
                    out.startGroup();
                    if (e != null) {
                        out.startField("element", 0);
                        value(element, e);
                        out.endField("element", 0);
                    }
                    out.endGroup();
                }
                out.endField("list", 0);
            }
            out.endGroup();
        }

        private void value(DataType t, Object v) {
            if (t.equals(DataTypes.StringType)) {
                out.addBinary(Binary.fromString(v.toString()));
            } else if (t.equals(DataTypes.LongType)) {
                out.addLong(((Number) v).longValue());
            } else if (t.equals(DataTypes.IntegerType) || t.equals(DataTypes.ShortType)
                    || t.equals(DataTypes.ByteType)) {
                out.addInteger(((Number) v).intValue());
            } else if (t.equals(DataTypes.FloatType)) {
                out.addFloat(((Number) v).floatValue());
            } else if (t.equals(DataTypes.DoubleType)) {
                out.addDouble(((Number) v).doubleValue());
            } else if (t.equals(DataTypes.BinaryType)) {
                out.addBinary(Binary.fromReusedByteArray((byte[]) v));
            } else {
                throw new IllegalArgumentException("unsupported type " + t.simpleString());
            }
        }
    }
}
