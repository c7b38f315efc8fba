package dev.rq.jobs.ingest;

import dev.rq.io.FileListing;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rq.io.HadoopDir;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.jobs.JobGroup;
import dev.rq.model.engine.Switches;
import dev.rq.io.StagedOutput;
import dev.rq.data.dataset.DatasetInfo;
import dev.rq.data.dataset.DatasetLayout;
import dev.rq.data.dataset.RejectsWriter;
import dev.rq.data.dataset.ShardWriter;
import dev.rq.data.image.RejectReason;
import dev.rq.data.ingest.ImageFolderListing;
import dev.rq.data.ingest.IngestProcessor;
import dev.rq.data.ingest.IngestResult;
import dev.rq.data.ingest.SourceRecord;
import dev.rq.data.ingest.WebDatasetReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.spark.HashPartitioner;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

/**
 * Converts an ImageFolder tree, WebDataset tar shards or a foreign Parquet table into one split of
 * the canonical dataset ({@link DatasetLayout}).
 *
 * <p>Steps: list the input on the driver and build one {@link SourceRecord} per input unit (file,
 * WebDataset sample, Parquet row) → validate each unit by decoding it ({@link IngestProcessor}) →
 * hash-partition by the unit's row-order key ({@link DatasetLayout#rowOrderKey}: a hash of its sort
 * key, then the key) into {@code shards} partitions, sorted by it within each, row groups of
 * {@code rowGroupBytes} ({@link ShardWriter#autoRowGroupBytes}) → every
 * task writes its shard {@code <split>-i-of-n.parquet} and, when it has rejects, {@code
 * _rejects/rejects-i-of-n.parquet}, straight into {@code <output>/<split>/} → the driver checks
 * {@code accepted + rejected == read} and writes {@code _dataset_info.json}, which lists the
 * shards, last ({@link StagedOutput}: no directory is renamed, so the same steps are safe on object
 * stores). When a complete split is replaced, the new files carry the commit id ({@code
 * <split>-i-of-n-<id>.parquet}) and the old split stays readable until the new sidecar replaces its
 * own; then the old files are removed. A failed run removes its files and never touches a complete
 * split; readers require the sidecar. The output is deterministic: shard assignment and row order
 * depend only on the sort keys (ImageFolder relative path; WebDataset {@code tar/key}; Parquet row
 * index), not on the input partitioning; rows of all classes are mixed in every shard and row group.
 */
public final class IngestJob {
    private static final Logger LOG = LoggerFactory.getLogger(IngestJob.class);

    /** Target uncompressed input bytes per output shard when {@code shards} is 0 (auto). */
    public static final long AUTO_SHARD_BYTES = 256L << 20;

    /** The largest ImageFolder file read (one Java array); a larger one is a {@code read_error} reject. */
    static final long MAX_FILE_BYTES = Integer.MAX_VALUE - 8;

    /** Input layouts. */
    public enum InputFormat {
        IMAGEFOLDER,
        WEBDATASET,
        PARQUET
    }

    /**
     * Ingest options.
     *
     * @param input input URI (folder, tar file or folder of tars, Parquet file or folder)
     * @param format input layout
     * @param output dataset root URI; the split goes to {@code <output>/<split>}
     * @param split split name ({@code [A-Za-z0-9_.]+}, not starting with "." or "_")
     * @param shards number of output shards; 0 = one per {@link #AUTO_SHARD_BYTES} of input
     * @param imageColumn foreign Parquet image column (struct{bytes,path} or binary)
     * @param labelColumn foreign Parquet label column (integer; missing column → -1)
     * @param resize shorter-side resize at ingest, or null to keep original bytes
     * @param rowGroupBytes Parquet row-group size; 0 = {@link ShardWriter#autoRowGroupBytes} of the
     *     input size
     * @param maxMemberBytes WebDataset member cap: a larger tar member is skipped unread and its sample
     *     rejected as {@code read_error}; 0 = {@link WebDatasetReader#DEFAULT_MAX_MEMBER_BYTES}
     */
    public record Options(
            String input,
            InputFormat format,
            String output,
            String split,
            int shards,
            String imageColumn,
            String labelColumn,
            Integer resize,
            long rowGroupBytes,
            long maxMemberBytes) {
        public Options {
            Objects.requireNonNull(input, "input");
            Objects.requireNonNull(format, "format");
            Objects.requireNonNull(output, "output");
            if (split == null || !split.matches("[A-Za-z0-9][A-Za-z0-9_.]*")) {
                throw new IllegalArgumentException("bad split name: " + split);
            }
            if (shards < 0 || shards > 99_999) {
                throw new IllegalArgumentException("shards must be in [0, 99999], got " + shards);
            }
            if (resize != null && resize <= 0) {
                throw new IllegalArgumentException("resize must be > 0, got " + resize);
            }
            if (rowGroupBytes < 0) {
                throw new IllegalArgumentException("row-group size must be >= 0, got " + rowGroupBytes);
            }
            if (maxMemberBytes == 0) {
                maxMemberBytes = WebDatasetReader.DEFAULT_MAX_MEMBER_BYTES;
            }
            if (maxMemberBytes < 1 || maxMemberBytes > WebDatasetReader.MAX_ARRAY_BYTES) {
                throw new IllegalArgumentException("WebDataset member cap must be in [1, "
                        + WebDatasetReader.MAX_ARRAY_BYTES + "] bytes, got " + maxMemberBytes);
            }
            imageColumn = imageColumn == null ? DatasetLayout.IMAGE : imageColumn;
            labelColumn = labelColumn == null ? DatasetLayout.LABEL : labelColumn;
        }

        /** Options with the default WebDataset member cap. */
        public Options(String input, InputFormat format, String output, String split, int shards,
                String imageColumn, String labelColumn, Integer resize, long rowGroupBytes) {
            this(input, format, output, split, shards, imageColumn, labelColumn, resize, rowGroupBytes, 0);
        }

        /** Options with automatic row-group size. */
        public Options(String input, InputFormat format, String output, String split, int shards,
                String imageColumn, String labelColumn, Integer resize) {
            this(input, format, output, split, shards, imageColumn, labelColumn, resize, 0, 0);
        }
    }

    /**
     * Outcome of an ingest.
     *
     * @param splitUri the committed split folder
     * @param info the sidecar that was written
     */
    public record Result(String splitUri, DatasetInfo info) {
        /** A multi-line human summary: read / accepted / rejected by reason / shards. */
        public String summary() {
            DatasetInfo.Ingest in = info.ingest();
            StringBuilder sb = new StringBuilder();
            sb.append(String.format(Locale.ROOT, "ingest %s (%s) -> %s%n", in.source(),
                    in.sourceFormat(), splitUri));
            sb.append(String.format(Locale.ROOT, "  read      %d%n", in.read()));
            sb.append(String.format(Locale.ROOT, "  accepted  %d (%d classes, %d shards)%n",
                    in.accepted(), info.classNames().size(), info.shards().size()));
            sb.append(String.format(Locale.ROOT, "  rejected  %d%n", in.rejected()));
            in.rejectedByReason().forEach((k, v) ->
                    sb.append(String.format(Locale.ROOT, "    %-22s %d%n", k, v)));
            return sb.toString();
        }
    }

    private IngestJob() {}

    /**
     * Runs the ingest.
     *
     * @param spark an active session (any master)
     * @param o options
     * @return the committed split and its sidecar
     */
    public static Result run(SparkSession spark, Options o) throws IOException {
        String description = "rq ingest " + o.format() + " " + o.input() + " -> " + o.output() + "/" + o.split();
        return JobGroup.run(spark, "rq-ingest", description, false, () -> {
            JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
            Configuration conf = jsc.hadoopConfiguration();
            SerializableHadoopConf sconf = new SerializableHadoopConf(conf);
            Source src = switch (o.format()) { // plan: list and check the input (fails before any write)
                case IMAGEFOLDER -> imageFolder(jsc, o, sconf);
                case WEBDATASET -> webDataset(jsc, o, sconf);
                case PARQUET -> parquet(spark, o, conf);
            };
            try {
                return ingest(o, src, conf, sconf);
            } finally {
                src.release().run();
            }
        });
    }

    private static Result ingest(Options o, Source src, Configuration conf, SerializableHadoopConf sconf)
            throws IOException {
        if (src.expectedUnits == 0) {
            throw new IllegalArgumentException("--input: " + o.input() + " holds no "
                    + (o.format() == InputFormat.PARQUET ? "rows" : "files") + ": nothing to ingest (check the path"
                    + (o.format() == InputFormat.IMAGEFOLDER
                            ? "; images go in class sub-folders, <input>/<class>/*.jpg" : "") + ")");
        }
        int shards = o.shards() > 0 ? o.shards()
                : (int) Math.max(1, (src.inputBytes + AUTO_SHARD_BYTES - 1) / AUTO_SHARD_BYTES);
        long rowGroupBytes = o.rowGroupBytes() > 0 ? o.rowGroupBytes()
                : ShardWriter.autoRowGroupBytes(src.inputBytes);
        LOG.info("ingest {} {}: {} input bytes, {} classes, {} shards, row groups of {} bytes", o.format(),
                o.input(), src.inputBytes, src.classNames.size(), shards, rowGroupBytes);
        String splitUri = new Path(new Path(o.output()), o.split()).toString();
        try (StagedOutput out = StagedOutput.begin(splitUri, conf, OUTPUT)) {
            List<ShardStats> stats = write(src, o, shards, rowGroupBytes, out, sconf);
            DatasetInfo info = summarize(o, src, stats, shards);
            if (info.numRows() == 0) { // the input is untouched; a split without images is of no use
                throw new IllegalArgumentException("--input: no image of " + o.input() + " was accepted ("
                        + info.ingest().read() + " read, rejected " + info.ingest().rejectedByReason()
                        + "): nothing written; see docs/data.md for the accepted formats");
            }
            List<String> written = new ArrayList<>();
            for (ShardStats st : stats) {
                written.add(st.file());
                if (st.rejectsFile() != null) {
                    written.add(DatasetLayout.REJECTS_DIR + "/" + st.rejectsFile());
                }
            }
            // the sidecar last: its presence marks a complete split
            out.commit(written, info.toJson().getBytes(StandardCharsets.UTF_8));
            return new Result(out.uri(), info);
        }
    }

    /** What the output is: one split folder; its sidecar marks it complete; files never reused. */
    static final StagedOutput.Spec OUTPUT = new StagedOutput.Spec(DatasetLayout.INFO_FILE, "output",
            "a dataset split", false);

    /** One Spark job: validates, shards, sorts and writes every unit straight under the split folder. */
    private static List<ShardStats> write(Source src, Options o, int shards, long rowGroupBytes,
            StagedOutput out, SerializableHadoopConf sconf) {
        IngestProcessor proc = new IngestProcessor(o.resize());
        return src.records
                .map(proc::process)
                .mapToPair(r -> new Tuple2<>(DatasetLayout.rowOrderKey(r.sortKey()), r))
                .repartitionAndSortWithinPartitions(new HashPartitioner(shards), new StringOrder())
                .mapPartitionsWithIndex(new ShardTask(out.uri(), out.nameSuffix(), o.split(), shards,
                        src.classNames, rowGroupBytes, sconf), false)
                .collect();
    }

    private static DatasetInfo summarize(Options o, Source src, List<ShardStats> stats,
            int shards) {
        List<ShardStats> sorted = new ArrayList<>(stats);
        sorted.sort(Comparator.comparingInt(ShardStats::index));
        if (sorted.size() != shards) {
            throw new IllegalStateException("expected " + shards + " shard results, got "
                    + sorted.size());
        }
        List<DatasetInfo.Shard> files = new ArrayList<>();
        TreeMap<Long, Long> perLabel = new TreeMap<>();
        TreeMap<String, Long> reasons = new TreeMap<>();
        long accepted = 0;
        long rejected = 0;
        for (ShardStats s : sorted) {
            files.add(new DatasetInfo.Shard(s.file(), s.rows(), s.bytes()));
            accepted += s.rows();
            s.perLabel().forEach((k, v) -> perLabel.merge(k, v, Long::sum));
            for (Map.Entry<String, Long> e : s.rejects().entrySet()) {
                reasons.merge(e.getKey(), e.getValue(), Long::sum);
                rejected += e.getValue();
            }
        }
        // Every unit listed on the driver must come back as exactly one row or one reject.
        long read = accepted + rejected;
        if (src.expectedUnits >= 0 && src.expectedUnits != read) {
            throw new IllegalStateException("accounting error: " + src.expectedUnits
                    + " units listed but " + accepted + " accepted + " + rejected + " rejected");
        }
        Map<String, Long> counts = new LinkedHashMap<>();
        perLabel.forEach((k, v) -> counts.put(Long.toString(k), v));
        DatasetInfo.Ingest ingest = new DatasetInfo.Ingest(o.input(),
                o.format().name().toLowerCase(Locale.ROOT), read, accepted, rejected, reasons,
                o.resize(),
                o.format() == InputFormat.PARQUET ? o.imageColumn() : null,
                o.format() == InputFormat.PARQUET ? o.labelColumn() : null);
        Map<String, String> createdBy = new LinkedHashMap<>();
        createdBy.put("app", "rq ingest");
        String v = IngestJob.class.getPackage().getImplementationVersion();
        createdBy.put("version", v == null ? "dev" : v);
        createdBy.put("java", System.getProperty("java.version"));
        createdBy.put("spark", org.apache.spark.package$.MODULE$.SPARK_VERSION());
        return new DatasetInfo(DatasetInfo.FORMAT, DatasetInfo.VERSION, o.split(),
                src.classNames, accepted, files, counts, ingest, createdBy,
                Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
    }

    // ---------------------------------------------------------------- sources

    /**
     * Input units, class names and input size of one ingest.
     *
     * @param release frees what the source cached (after the ingest, whatever its outcome)
     */
    private record Source(JavaRDD<SourceRecord> records, List<String> classNames,
            long inputBytes, long expectedUnits, Runnable release) {}

    /** Classes listed by one ImageFolder listing task (when there are more than 4 per task slot). */
    static final int CLASSES_PER_LISTING_TASK = 16;

    /**
     * A/B switch ({@link Switches}): {@code -Drq.ingest.listingInPlace=false} always spreads the
     * listed files over the processing tasks by a shuffle, even when the listing tasks are balanced.
     */
    static final String LISTING_IN_PLACE = "rq.ingest.listingInPlace";

    /**
     * The driver lists the root (class names: O(classes)); the files of each class are listed in
     * a task and cached on the executors (listed once). The listing tasks process their own files
     * when they are balanced enough ({@link #processInPlace}); else the files are spread over the
     * processing tasks by a hash of their relative path (a shuffle of the entries). Either way no
     * JVM holds the whole listing, and the output is the same (it depends on the sort keys only).
     */
    private static Source imageFolder(JavaSparkContext jsc, Options o, SerializableHadoopConf sconf)
            throws IOException {
        ImageFolderListing listing = ImageFolderListing.plan(o.input(), sconf.get());
        List<ImageFolderListing.Unit> units = listing.units();
        int listingTasks = Math.min(units.size(),
                Math.max(jsc.defaultParallelism() * 4, units.size() / CLASSES_PER_LISTING_TASK));
        JavaRDD<ImageFolderListing.Entry> files = jsc.parallelize(units, listingTasks)
                .flatMap(u -> ImageFolderListing.files(u, sconf.get()))
                .persist(StorageLevel.MEMORY_AND_DISK_SER()); // Kryo, EntrySerializer: compact and cheap
        List<long[]> perTask;
        try {
            perTask = files.mapPartitions(it -> { // {files, bytes}: one pair per listing task to the driver
                long n = 0;
                long bytes = 0;
                while (it.hasNext()) {
                    n++;
                    bytes += it.next().size();
                }
                return List.of(new long[] {n, bytes}).iterator();
            }).collect();
        } catch (Exception e) { // (Spark's SparkException, unchecked here) the listed classes stay cached otherwise
            files.unpersist(false);
            ImageFolderListing.ListingException failed = ImageFolderListing.ListingException.in(e);
            if (failed != null) { // one line naming the folder, not Spark's stage report
                throw failed;
            }
            throw e;
        }
        long n = 0;
        long bytes = 0;
        long most = 0;
        for (long[] t : perTask) {
            n += t[0];
            bytes += t[1];
            most = Math.max(most, t[0]);
        }
        JavaRDD<ImageFolderListing.Entry> spread = files;
        if (!Switches.on(LISTING_IN_PLACE) || !processInPlace(most, n, jsc.defaultParallelism())) {
            int slices = (int) Math.max(1, Math.min(n, Math.max(jsc.defaultParallelism() * 3L, n / 1000)));
            spread = files.mapToPair(e -> new Tuple2<>(e.relPath(), e)).partitionBy(new HashPartitioner(slices))
                    .values();
        }
        LOG.info("ImageFolder: {} files listed by {} tasks (at most {} in one), processed {}", n, perTask.size(),
                most, spread == files ? "by the listing tasks" : "in " + spread.getNumPartitions() + " hashed slices");
        JavaRDD<SourceRecord> records = spread.map(e -> read(e, sconf));
        return new Source(records, listing.classNames(), bytes, n, files::unpersist);
    }

    /**
     * Whether the listing tasks process their own files (no shuffle of the entries): when the
     * largest holds at most half a core's share, {@code most <= n / (2 p)}. Scheduled as the cores
     * free up, they then end at most that much later than an even split would (makespan
     * {@code <= n/p + most}); a few large classes on many cores are spread by a shuffle instead.
     *
     * @param most files of the largest listing task
     * @param n files listed
     * @param parallelism the default parallelism (task slots)
     */
    static boolean processInPlace(long most, long n, int parallelism) {
        return most * 2L * parallelism <= n;
    }

    /** One listed file as an input unit: its bytes, or a reject (outside the classes, too large, unreadable). */
    private static SourceRecord read(ImageFolderListing.Entry e, SerializableHadoopConf sconf) {
        if (e.label() < 0) {
            return SourceRecord.rejected(e.relPath(), e.relPath(), e.size(),
                    RejectReason.OUTSIDE_CLASS_FOLDER, "not inside a class sub-folder");
        }
        if (e.size() > MAX_FILE_BYTES) { // readAllBytes would fail the task (and the job), not the file
            return SourceRecord.rejected(e.relPath(), e.relPath(), e.size(), RejectReason.READ_ERROR,
                    e.size() + " bytes: larger than one Java array (" + MAX_FILE_BYTES + " bytes)");
        }
        Path p = new Path(e.uri());
        try (InputStream in = p.getFileSystem(sconf.get()).open(p)) {
            return SourceRecord.image(e.relPath(), e.relPath(), in.readAllBytes(), e.label());
        } catch (IOException ex) {
            return SourceRecord.rejected(e.relPath(), e.relPath(), e.size(),
                    RejectReason.READ_ERROR, String.valueOf(ex));
        }
    }

    private static Source webDataset(JavaSparkContext jsc, Options o, SerializableHadoopConf sconf)
            throws IOException {
        Path in = new Path(o.input());
        FileSystem fs = in.getFileSystem(sconf.get());
        List<String[]> tars = new ArrayList<>(); // {uri, name relative to the input}
        long bytes = 0;
        FileStatus st = fs.getFileStatus(in);
        if (st.isFile()) {
            tars.add(new String[] {st.getPath().toString(), st.getPath().getName()});
            bytes = st.getLen();
        } else {
            String prefix = fs.makeQualified(in).toUri().getPath();
            prefix = prefix.endsWith("/") ? prefix : prefix + "/";
            RemoteIterator<FileStatus> it = FileListing.files(fs, in);
            int skipped = 0;
            while (it.hasNext()) {
                FileStatus f = it.next();
                String full = f.getPath().toUri().getPath();
                if (f.getPath().getName().toLowerCase(Locale.ROOT).endsWith(".tar")) {
                    tars.add(new String[] {f.getPath().toString(),
                        full.startsWith(prefix) ? full.substring(prefix.length()) : full});
                    bytes += f.getLen();
                } else {
                    skipped++;
                }
            }
            if (skipped > 0) {
                LOG.warn("webdataset: ignored {} non-.tar files under {}", skipped, in);
            }
        }
        if (tars.isEmpty()) {
            throw new IllegalArgumentException("no .tar shards under " + o.input());
        }
        tars.sort(Comparator.comparing(t -> t[1]));
        long maxMember = o.maxMemberBytes();
        JavaRDD<SourceRecord> records = jsc.parallelize(tars, tars.size()).flatMap(t -> {
            Path p = new Path(t[0]);
            WebDatasetReader r = new WebDatasetReader(p.getFileSystem(sconf.get()).open(p), t[1], maxMember);
            return new ClosingIterator<>(r, r);
        });
        return new Source(records, List.of(), bytes, -1, () -> {});
    }

    private static Source parquet(SparkSession spark, Options o, Configuration conf)
            throws IOException {
        Dataset<Row> df = spark.read().parquet(o.input());
        StructType schema = df.schema();
        StructField image = field(schema, o.imageColumn());
        if (image == null) {
            throw new IllegalArgumentException("image column '" + o.imageColumn()
                    + "' not found; columns: " + List.of(schema.fieldNames()));
        }
        Column bytes;
        Column path;
        DataType t = image.dataType();
        if (t instanceof StructType st && field(st, DatasetLayout.BYTES) != null) {
            bytes = functions.col(o.imageColumn() + "." + DatasetLayout.BYTES);
            path = field(st, DatasetLayout.PATH) != null
                    ? functions.col(o.imageColumn() + "." + DatasetLayout.PATH).cast("string")
                    : functions.lit(null).cast("string");
        } else if (t instanceof BinaryType) {
            bytes = functions.col(o.imageColumn());
            path = functions.lit(null).cast("string");
        } else {
            throw new IllegalArgumentException("image column '" + o.imageColumn()
                    + "' must be struct<bytes,path> or binary, is " + t.simpleString());
        }
        Column label = field(schema, o.labelColumn()) != null
                ? functions.col(o.labelColumn()).cast("long")
                : functions.lit(-1L);
        if (field(schema, o.labelColumn()) == null) {
            LOG.warn("label column '{}' not found; all labels are -1", o.labelColumn());
        }
        JavaRDD<SourceRecord> records = df.select(bytes, path, label).javaRDD().zipWithIndex()
                .map(ti -> {
                    Row r = ti._1();
                    long idx = ti._2();
                    String key = String.format(Locale.ROOT, "%012d", idx);
                    String p = r.isNullAt(1) ? "row-" + idx : r.getString(1);
                    long lab = r.isNullAt(2) ? -1L : r.getLong(2);
                    if (r.isNullAt(0)) {
                        return SourceRecord.rejected(key, p, 0, RejectReason.EMPTY_FILE,
                                "null image bytes");
                    }
                    byte[] b = (byte[]) r.get(0);
                    return SourceRecord.image(key, p, b, lab);
                });
        long inputBytes = 0;
        String firstFile = null;
        Path in = new Path(o.input());
        FileSystem fs = in.getFileSystem(conf);
        RemoteIterator<FileStatus> it = FileListing.files(fs, in);
        List<String> files = new ArrayList<>();
        while (it.hasNext()) {
            FileStatus f = it.next();
            if (f.getPath().getName().endsWith(".parquet")) {
                inputBytes += f.getLen();
                files.add(f.getPath().toString());
            }
        }
        Collections.sort(files);
        firstFile = files.isEmpty() ? null : files.get(0);
        List<String> names = firstFile == null ? List.of()
                : classNamesFromFooter(firstFile, o.labelColumn(), conf);
        return new Source(records, names, inputBytes, df.count(), () -> {});
    }

    private static StructField field(StructType st, String name) {
        for (StructField f : st.fields()) {
            if (f.name().equals(name)) {
                return f;
            }
        }
        return null;
    }

    /** ClassLabel names of {@code column} from a Hugging Face {@code huggingface} footer key. */
    static List<String> classNamesFromFooter(String file, String column, Configuration conf) {
        try (ParquetFileReader r = ParquetFileReader.open(
                HadoopInputFile.fromPath(new Path(file), conf))) {
            String json = r.getFooter().getFileMetaData().getKeyValueMetaData()
                    .get(DatasetLayout.HF_METADATA_KEY);
            if (json == null) {
                return List.of();
            }
            JsonNode names = new ObjectMapper().readTree(json).path("info").path("features")
                    .path(column).path("names");
            List<String> out = new ArrayList<>();
            names.forEach(n -> out.add(n.asText()));
            return out;
        } catch (IOException | RuntimeException e) {
            LOG.warn("could not read class names from {}: {}", file, e.toString());
            return List.of();
        }
    }

    // ---------------------------------------------------------------- tasks

    /** Per-shard outcome returned to the driver. */
    record ShardStats(int index, String file, long rows, long bytes, Map<Long, Long> perLabel,
            Map<String, Long> rejects, String rejectsFile) implements Serializable {}

    /**
     * Writes one shard (and its rejects file) from a sorted partition, each in one piece under its
     * final name in the split folder ({@link HadoopDir#writePath}).
     */
    private static final class ShardTask implements
            org.apache.spark.api.java.function.Function2<Integer,
                    Iterator<Tuple2<String, IngestResult>>, Iterator<ShardStats>> {
        private static final long serialVersionUID = 2L;
        private final String splitDir;
        private final String suffix;
        private final String split;
        private final int shards;
        private final List<String> classNames;
        private final long rowGroupBytes;
        private final SerializableHadoopConf conf;

        ShardTask(String splitDir, String suffix, String split, int shards, List<String> classNames,
                long rowGroupBytes, SerializableHadoopConf conf) {
            this.splitDir = splitDir;
            this.suffix = suffix;
            this.split = split;
            this.shards = shards;
            this.classNames = List.copyOf(classNames);
            this.rowGroupBytes = rowGroupBytes;
            this.conf = conf;
        }

        @Override
        public Iterator<ShardStats> call(Integer idx, Iterator<Tuple2<String, IngestResult>> it)
                throws IOException {
            Configuration c = conf.get();
            String name = withSuffix(DatasetLayout.shardName(split, idx, shards));
            Path shardPath = new Path(splitDir, name);
            FileSystem fs = shardPath.getFileSystem(c);
            Path shardAt = HadoopDir.writePath(fs, shardPath);
            String rejectsName = withSuffix(DatasetLayout.rejectsName(idx, shards));
            Path rejectsPath = new Path(new Path(splitDir, DatasetLayout.REJECTS_DIR), rejectsName);
            Path rejectsAt = HadoopDir.writePath(fs, rejectsPath);
            Map<Long, Long> perLabel = new TreeMap<>();
            Map<String, Long> rejects = new TreeMap<>();
            RejectsWriter rw = null;
            long rows;
            try (ShardWriter w = new ShardWriter(shardAt, c, classNames, rowGroupBytes)) {
                while (it.hasNext()) {
                    IngestResult r = it.next()._2();
                    if (r.accepted()) {
                        w.write(r.path(), r.bytes(), r.label());
                        perLabel.merge(r.label(), 1L, Long::sum);
                    } else {
                        if (rw == null) {
                            rw = new RejectsWriter(rejectsAt, c);
                        }
                        rw.write(r.path(), r.reason(), r.size(), r.detail());
                        rejects.merge(r.reason(), 1L, Long::sum);
                    }
                }
                rows = w.rows();
            } finally {
                if (rw != null) {
                    rw.close();
                }
            }
            HadoopDir.publish(fs, shardAt, shardPath);
            if (rw != null) {
                HadoopDir.publish(fs, rejectsAt, rejectsPath);
            }
            long bytes = fs.getFileStatus(shardPath).getLen();
            return List.of(new ShardStats(idx, name, rows, bytes, perLabel, rejects,
                    rw == null ? null : rejectsName)).iterator();
        }

        /** {@code train-00000-of-00004.parquet} → {@code train-00000-of-00004<suffix>.parquet} */
        private String withSuffix(String name) {
            return name.substring(0, name.length() - ".parquet".length()) + suffix + ".parquet";
        }
    }

    /** Natural String order, serializable for Spark's shuffle sort. */
    private static final class StringOrder implements Comparator<String>, Serializable {
        private static final long serialVersionUID = 1L;

        @Override
        public int compare(String a, String b) {
            return a.compareTo(b);
        }
    }

    /** Closes a resource when its iterator is exhausted. */
    private static final class ClosingIterator<T> implements Iterator<T> {
        private final Iterator<T> it;
        private final java.io.Closeable resource;
        private boolean closed;

        ClosingIterator(Iterator<T> it, java.io.Closeable resource) {
            this.it = it;
            this.resource = resource;
        }

        @Override
        public boolean hasNext() {
            boolean h = it.hasNext();
            if (!h && !closed) {
                closed = true;
                try {
                    resource.close();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
            return h;
        }

        @Override
        public T next() {
            return it.next();
        }
    }
}
