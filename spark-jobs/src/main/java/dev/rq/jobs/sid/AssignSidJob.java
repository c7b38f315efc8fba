package dev.rq.jobs.sid;

import dev.rq.data.items.ItemInput;
import dev.rq.data.items.ItemPreparation;
import dev.rq.io.StagedOutput;
import dev.rq.jobs.JobGroup;
import dev.rq.tables.TableFiles;
import dev.rq.io.HadoopDir;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.config.SidDataConfig;
import dev.rq.model.config.SidRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.sid.SidCheckpoint;
import dev.rq.model.sid.SidCoder;
import dev.rq.tables.SidManifest;
import dev.rq.tables.SidTable;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.functions;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.sql.types.DataType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code rq assign-sid}: gives every item of an item table its semantic ID with a trained
 * semantic-ID checkpoint ({@link SidCheckpoint}), and writes the ID table, the reverse table, the
 * codebooks and the manifest ({@link SidTable}).
 *
 * <pre>
 * driver:  verify the checkpoint; check the item table's columns
 * encode:  one pass over the input (Spark tasks, the executor's model, batches of batch_size):
 *          valid rows → (item_id, sid, recon_mse, cosine, [label]), rejected rows → reason
 *          → work rows, persisted (memory, spilling to disk) for the passes below
 *          → per task ({@link WorkSummary}): rows by reject reason, reconstruction sums, a sid sample
 * driver:  counts reconcile (read = encoded + rejected); sid ranges cut from the sample
 * ids:     the (existing and) new rows in sid ranges, sorted by sid ({@link #ids}); one task per range
 *          ({@link IdTableTask}) numbers the new items of each sid by item_id (dedup; after the largest
 *          dedup of that sid in --existing, whose items all keep their IDs), writes the range's ID rows
 *          (with sid_text) and reverse rows (sid → items ordered by dedup) and counts the code
 *          histograms and collisions; beside it, duplicate ids fail naming them
 * stats:   code usage and perplexity per level, collisions, reconstruction MSE and cosine, prefix purity
 * commit:  codebooks.safetensors; _sid_manifest.json last, listing every file ({@link StagedOutput})
 * </pre>
 *
 * Tasks write their Parquet files straight under {@code --output} ({@link TableFiles}); nothing is
 * renamed, so the commit is the same on object stores, HDFS and local disks. A failed run removes
 * its files and leaves an earlier table at {@code --output} readable.
 */
public final class AssignSidJob {
    private static final Logger LOG = LoggerFactory.getLogger(AssignSidJob.class);

    private AssignSidJob() {}

    /**
     * Job options.
     *
     * @param checkpoint semantic-ID checkpoint URI (sid-rqvae or sid-rqkmeans)
     * @param data item table URI
     * @param output ID table URI (replaced atomically if it is an earlier ID table)
     * @param existing an earlier ID table to extend, or null
     * @param idColumn id column, or null for the checkpoint's {@code data.id_column}
     * @param embeddingColumn embedding column, or null for the checkpoint's {@code data.embedding_column}
     * @param labelColumn label column ("" for none), or null for the checkpoint's {@code data.label_column}
     * @param batchSize items per model call
     * @param threads libtorch intra-op threads per task (0 = spark.task.cpus)
     * @param reconSample reconstruct one item in this many (by a hash of its id) for the reconstruction
     *     statistics; 1 = every item (the decoder costs as much as the encoder)
     */
    public record Options(String checkpoint, String data, String output, String existing, String idColumn,
            String embeddingColumn, String labelColumn, int batchSize, int threads, int reconSample,
            Precision precision) {
        /** Options computing in float32. */
        public Options(String checkpoint, String data, String output, String existing, String idColumn,
                String embeddingColumn, String labelColumn, int batchSize, int threads, int reconSample) {
            this(checkpoint, data, output, existing, idColumn, embeddingColumn, labelColumn, batchSize, threads,
                    reconSample, Precision.FP32);
        }

        public Options {
            Objects.requireNonNull(checkpoint, "checkpoint");
            Objects.requireNonNull(precision, "precision");
            Objects.requireNonNull(data, "data");
            Objects.requireNonNull(output, "output");
            if (batchSize <= 0) {
                throw new IllegalArgumentException("--batch-size must be positive, got " + batchSize);
            }
            if (threads < 0) {
                throw new IllegalArgumentException("--threads must be >= 0, got " + threads);
            }
            if (reconSample < 1) {
                throw new IllegalArgumentException("--recon-sample must be at least 1, got " + reconSample);
            }
        }
    }

    /**
     * Outcome.
     *
     * @param tableUri the committed table
     * @param manifest its manifest
     */
    public record Result(String tableUri, SidManifest manifest) {
        /** @return a short human summary */
        public String summary() {
            SidManifest.Counts c = manifest.counts();
            SidManifest.Collisions k = manifest.collisions();
            SidManifest.Statistics s = manifest.statistics();
            StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "assign-sid -> %s%n", tableUri));
            b.append(String.format(Locale.ROOT, "  read %d, encoded %d, rejected %d %s%n", c.read(), c.encoded(),
                    c.rejected(), c.rejectedByReason()));
            if (manifest.existing() != null) {
                b.append(String.format(Locale.ROOT, "  kept %d existing IDs (%d re-encoded, %d of them now code"
                        + " differently), assigned %d new%n", c.existingKept(), c.existingReencoded(),
                        c.existingChanged(), c.assigned()));
            }
            b.append(String.format(Locale.ROOT, "  %d items, %d distinct sids (unique ratio %.4f, collision rate"
                    + " %.4f, largest group %d)%n", c.items(), k.uniqueSids(), k.uniqueSidRatio(), k.collisionRate(),
                    k.largestGroup()));
            b.append(String.format(Locale.ROOT, "  used %s, perplexity %s, recon MSE %.5f, cosine %.4f%s%n",
                    fmt(s.usedFraction()), fmt(s.perplexity()), s.reconstructionMse(), s.cosineSimilarity(),
                    s.prefixPurity() == null ? "" : ", prefix purity " + fmt(s.prefixPurity())));
            SidManifest.Job j = manifest.job();
            b.append(String.format(Locale.ROOT, "  %.1f s (encode %.1f s), %.0f items/s%n", j.seconds(),
                    j.encodeSeconds(), j.itemsPerSecond()));
            if (j.phases() != null) {
                List<String> p = new ArrayList<>();
                j.phases().forEach((name, sec) -> p.add(String.format(Locale.ROOT, "%s %.1f", name, sec)));
                b.append("  phases (s): ").append(String.join(", ", p)).append(String.format("%n"));
            }
            return b.toString();
        }

        private static String fmt(List<Double> v) {
            List<String> s = new ArrayList<>();
            v.forEach(x -> s.add(String.format(Locale.ROOT, x >= 10 ? "%.1f" : "%.3f", x)));
            return "[" + String.join(", ", s) + "]";
        }
    }

    /** Rows per file of the ID and reverse tables (the number of files is also capped at 4 per task slot). */
    static final long ROWS_PER_FILE = 2_000_000;

    /**
     * Below {@link #ROWS_PER_FILE}, the ID table still gets one file per task slot (so that its write
     * is not one task) as long as each gets at least this many rows.
     */
    static final long MIN_ROWS_PER_FILE = 50_000;

    /** What an ID table is, for {@link StagedOutput}. */
    static final StagedOutput.Spec OUTPUT = new StagedOutput.Spec(SidTable.MANIFEST, "--output",
            "a semantic-ID table", false);

    /** Runs the job on {@code spark} (any master). */
    public static Result run(SparkSession spark, Options o) throws IOException {
        return JobGroup.run(spark, "rq-assign-sid", "rq assign-sid " + o.data() + " -> " + o.output(), false,
                () -> doRun(spark, o));
    }

    private static Result doRun(SparkSession spark, Options o) throws IOException {
        long t0 = System.nanoTime();
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        HadoopDir ckptDir = new HadoopDir(o.checkpoint(), conf);
        Checkpoints.Loaded ckpt = Checkpoints.read(ckptDir); // verified; executors verify again
        String kind = ckpt.manifest().kind();
        if (!SidCheckpoint.RQVAE.equals(kind) && !SidCheckpoint.RQ_KMEANS.equals(kind)) {
            throw new IllegalArgumentException("--checkpoint " + ckptDir.uri() + " holds a '" + kind
                    + "' model, not a semantic-ID model (train one with rq train-sid)");
        }
        SidRunConfig config = ckpt.config(SidRunConfig.class);
        String modelSha = ckpt.manifest().files().get(Checkpoints.MODEL).sha256();
        int dim = config.model().inputDim();
        int depth = config.model().depth();
        SidDataConfig c = config.data();
        SidDataConfig cols = new SidDataConfig(o.idColumn() != null ? o.idColumn() : c.idColumn(),
                o.embeddingColumn() != null ? o.embeddingColumn() : c.embeddingColumn(),
                o.labelColumn() != null ? o.labelColumn() : c.labelColumn());
        int threads = o.threads() > 0 ? o.threads()
                : Integer.parseInt(spark.sparkContext().getConf().get("spark.task.cpus", "1"));
        SidCoderHandle handle = new SidCoderHandle(ckptDir.uri(), modelSha, threads, new SerializableHadoopConf(conf),
                o.precision());
        // the driver's copy (codebooks to export; the local executor's), loaded while Spark reads the input's
        // schema, leased until the job ends (in local mode the tasks' model cache shares this JVM)
        java.util.concurrent.CompletableFuture<SidCoderHandle.Pinned> driverCoder =
                java.util.concurrent.CompletableFuture.supplyAsync(handle::acquire);
        ItemInput in;
        SidManifest existing;
        try {
            in = ItemInput.open(spark, o.data(), cols, dim);
            existing = o.existing() == null ? null : checkExisting(o, conf, modelSha, in);
        } catch (IOException | RuntimeException e) {
            driverCoder.thenAccept(SidCoderHandle.Pinned::close);
            throw e;
        }
        Path existingRoot = existing == null ? null : new Path(o.existing());

        List<Dataset<Row>> cached = new ArrayList<>();
        Beside unique = null;
        try (StagedOutput out = StagedOutput.begin(o.output(), conf, OUTPUT)) {
            SidCoder coder;
            try {
                coder = driverCoder.join().coder();
            } catch (java.util.concurrent.CompletionException e) {
                throw e.getCause() instanceof RuntimeException r ? r : e;
            }

            Phases ph = new Phases(t0);
            ph.end("setup");
            long te = System.nanoTime();
            int[] sizes = new int[depth];
            for (int d = 0; d < depth; d++) {
                sizes[d] = coder.codebookSize(d);
            }
            int slots = spark.sparkContext().defaultParallelism();
            AssignTask.TaskTimes taskTimes = AssignTask.TaskTimes.register(spark.sparkContext());
            Dataset<Row> w = cache(encode(spark, in, handle, depth, o.batchSize(), o.reconSample(), taskTimes),
                    cached);
            Dataset<Row> valid = w.filter(functions.col(AssignTask.REASON).isNull())
                    .drop(AssignTask.REASON, AssignTask.DETAIL, AssignTask.SOURCE_FILE, AssignTask.EMBEDDING);
            List<WorkSummary.Part> summary = WorkSummary.of(w, cols.hasLabel(), sizes, 4 * slots); // the encode pass
            SidManifest.Counts partial = count(in, summary);
            double encodeSeconds = (System.nanoTime() - te) / 1e9;
            ph.end("encode");
            if (partial.encoded() == 0 && existing == null) {
                throw new IllegalArgumentException("no valid item in " + o.data() + ": " + partial.read()
                        + " rows read, all rejected " + partial.rejectedByReason());
            }
            // the duplicate-id check's Spark jobs run beside the ID-table pass (both read the work rows; a
            // duplicate fails the run after it, and the staged output removes the files written)
            unique = new Beside("rq-assign-sid-unique-ids",
                    () -> in.requireUniqueIds(valid.withColumnRenamed(SidTable.ITEM_ID, cols.idColumn()),
                            "the item table"));
            List<TableFiles.DataFile> rejects = partial.rejected() == 0 ? List.of() : writeRejects(w, cols, out, conf);
            ph.end("rejects");

            long expected = partial.encoded() + (existing == null ? 0 : existing.counts().items());
            long byRows = (expected + ROWS_PER_FILE - 1) / ROWS_PER_FILE;
            int ranges = (int) Math.max(Math.max(1, Math.min(4L * slots, byRows)),
                    Math.min(slots, expected / MIN_ROWS_PER_FILE)); // sid ranges = files of each table
            long[] bounds = existing != null || WorkSummary.shifts(sizes) == null ? null
                    : WorkSummary.bounds(summary, ranges); // else Spark samples the ranges
            Dataset<Row> ids = ids(spark, valid, existing == null ? null : existing.idFiles(existingRoot), sizes, ranges,
                    bounds);
            IdTableTask task = new IdTableTask(TableFiles.of(out, SidTable.IDS, SidTable.idSchema(in.idType()), conf)
                    .plain(SidTable.ITEM_ID, SidTable.SID_TEXT), // unique values: no dictionary to abandon
                    TableFiles.of(out, SidTable.REVERSE, IdTableTask.reverseSchema(in.idType()), conf)
                    .plain(SidTable.ITEMS + ".list.element"), in.idType(), sizes, bounds);
            List<IdTableTask.Part> parts = ids.queryExecution().toRdd().toJavaRDD().mapPartitionsWithIndex(task, false)
                    .collect(); // one pass: both tables' files and the group statistics
            List<TableFiles.DataFile> idFiles = parts.stream().map(IdTableTask.Part::ids).filter(Objects::nonNull)
                    .toList();
            List<TableFiles.DataFile> revFiles = parts.stream().map(IdTableTask.Part::reverse)
                    .filter(Objects::nonNull).toList();
            ph.end("ids");
            unique.join();
            ph.end("unique_ids");

            long items = idFiles.stream().mapToLong(TableFiles.DataFile::rows).sum();
            SidManifest.Counts counts = incremental(partial, valid, existing, existingRoot, spark, items);
            ph.end("existing");
            long[][] hist = new long[depth][];
            long groups = 0;
            long collided = 0;
            long largest = 0;
            for (int d = 0; d < depth; d++) {
                hist[d] = new long[sizes[d]];
            }
            for (IdTableTask.Part p : parts) {
                for (int d = 0; d < depth; d++) {
                    for (int k = 0; k < sizes[d]; k++) {
                        hist[d][k] += p.histogram()[d][k];
                    }
                }
                groups += p.groups();
                collided += p.collided();
                largest = Math.max(largest, p.largest());
            }
            SidManifest.Collisions collisions = new SidManifest.Collisions(groups,
                    items == 0 ? 0 : groups / (double) items, items == 0 ? 0 : collided / (double) items, largest);
            SidManifest.Statistics stats = SidStatistics.of(hist, WorkSummary.reconstruction(summary), valid, coder,
                    cols.hasLabel());
            ph.end("statistics");
            String codebookFile = out.fileName("codebooks", ".safetensors");
            SidManifest.Codebooks codebooks = exportCodebooks(coder, out.path(codebookFile), out.fs(), codebookFile,
                    kind, modelSha);

            ph.end("codebooks");
            ph.seconds.putAll(taskTimes.seconds());
            double seconds = (System.nanoTime() - t0) / 1e9;
            SidManifest.Files files = new SidManifest.Files(idFiles, revFiles, rejects);
            SidManifest m = new SidManifest(SidTable.FORMAT, SidTable.VERSION,
                    new SidManifest.Model(ckptDir.uri(), kind, config.model().method(), modelSha,
                            ckpt.manifest().step(), ckpt.manifest().configHash()),
                    codebooks,
                    new SidManifest.Source(ItemPreparation.qualify(o.data(), conf), cols.idColumn(),
                            in.idType().simpleString(), cols.embeddingColumn(), cols.labelColumn(), dim),
                    counts, collisions, stats, files,
                    o.existing() == null ? null : ItemPreparation.qualify(o.existing(), conf),
                    createdBy(), Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(),
                    new SidManifest.Job(spark.sparkContext().master(), o.batchSize(), round(seconds),
                            round(encodeSeconds), round(counts.read() / seconds), o.precision().id(), ph.rounded()));
            List<String> written = new ArrayList<>(files.all());
            written.add(codebookFile);
            out.commit(written, m.toJson().getBytes(StandardCharsets.UTF_8)); // manifest last
            LOG.info("assign-sid committed {}: {} items in {} s", out.uri(), counts.items(), m.job().seconds());
            return new Result(out.uri(), m);
        } finally {
            if (unique != null) {
                unique.close(); // before its rows are unpersisted
            }
            cached.forEach(Dataset::unpersist);
            driverCoder.thenAccept(SidCoderHandle.Pinned::close); // now, or when a load still running ends
        }
    }

    /**
     * Work run on a thread of its own beside the driver's (its Spark jobs share the slots with the
     * driver's); the thread inherits the caller's Spark job group (Spark's local properties are
     * inherited by threads started from the caller).
     */
    private static final class Beside implements AutoCloseable {
        private final Thread thread;
        private volatile Throwable failure;

        Beside(String name, Runnable work) {
            thread = new Thread(() -> {
                try {
                    work.run();
                } catch (Throwable t) {
                    failure = t;
                }
            }, name);
            thread.setDaemon(true);
            thread.start();
        }

        /** Waits for the work; rethrows its failure. */
        void join() {
            close();
            if (failure instanceof RuntimeException r) {
                throw r;
            } else if (failure instanceof Error e) {
                throw e;
            } else if (failure != null) {
                throw new IllegalStateException(failure);
            }
        }

        /** Waits for the work, ignoring its failure (the caller failed already). */
        @Override
        public void close() {
            boolean interrupted = false;
            while (thread.isAlive()) {
                try {
                    thread.join();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Wall seconds of the driver's phases, in order: {@code setup} (checkpoint, input, model),
     * {@code encode} (the encode pass and its counts, {@link WorkSummary}), {@code rejects}, {@code
     * ids} (both tables' files), {@code unique_ids} (the wait for the duplicate-id check after the ID
     * pass, which it runs beside), {@code existing} (the incremental counts), {@code statistics},
     * {@code codebooks}; the commit (manifest) follows them.
     */
    private static final class Phases {
        final Map<String, Double> seconds = new LinkedHashMap<>();
        private long last;

        Phases(long start) {
            last = start;
        }

        void end(String phase) {
            long now = System.nanoTime();
            seconds.put(phase, (now - last) / 1e9);
            last = now;
        }

        Map<String, Double> rounded() {
            Map<String, Double> r = new LinkedHashMap<>();
            seconds.forEach((k, v) -> r.put(k, round(v)));
            return r;
        }
    }

    /** Persists {@code d} (memory, spilling to disk) for the driver's several passes over it. */
    private static Dataset<Row> cache(Dataset<Row> d, List<Dataset<Row>> cached) {
        Dataset<Row> p = d.persist(StorageLevel.MEMORY_AND_DISK());
        cached.add(p);
        return p;
    }

    private static List<TableFiles.DataFile> writeRejects(Dataset<Row> w, SidDataConfig cols, StagedOutput out,
            Configuration conf) {
        List<Column> rc = new ArrayList<>(List.of(functions.col(SidTable.ITEM_ID), functions.col(AssignTask.EMBEDDING)));
        if (cols.hasLabel()) {
            rc.add(functions.col(AssignTask.LABEL));
        }
        rc.addAll(List.of(functions.col(AssignTask.REASON), functions.col(AssignTask.DETAIL),
                functions.col(AssignTask.SOURCE_FILE)));
        Dataset<Row> r = w.filter(functions.col(AssignTask.REASON).isNotNull()).select(rc.toArray(new Column[0]));
        return TableFiles.write(r.toJavaRDD(), out, SidTable.REJECTS, r.schema(), conf);
    }

    /** The encode pass: checked input rows → work rows ({@link AssignTask}). */
    private static Dataset<Row> encode(SparkSession spark, ItemInput in, SidCoderHandle handle, int depth, int batch,
            int reconSample, AssignTask.TaskTimes times) {
        StringBuilder reader = new StringBuilder();
        JavaRDD<InternalRow> input = in.checkedRows(new SerializableHadoopConf(spark.sparkContext().hadoopConfiguration()),
                reader); // elements: by the task
        LOG.info("assign-sid reads {} with the {}", in.uri(), reader);
        DataType emb = in.raw().schema().apply(in.columns().embeddingColumn()).dataType();
        AssignTask task = new AssignTask(handle, in.idType(), emb, in.labelType(), in.dim(), depth, batch, reconSample, times);
        JavaRDD<InternalRow> rows = input.mapPartitions(task);
        return ((org.apache.spark.sql.classic.SparkSession) spark).internalCreateDataFrame(rows.rdd(),
                AssignTask.schema(in.idType(), emb, in.labelType()), false); // internal rows: no conversion
    }

    /** Row accounting of the encode pass ({@link WorkSummary}); read comes from the input's Parquet footers. */
    private static SidManifest.Counts count(ItemInput in, List<WorkSummary.Part> summary) {
        long read = in.rows(); // the files' footers
        long encoded = WorkSummary.encoded(summary);
        Map<String, Long> byReason = new TreeMap<>(WorkSummary.rejected(summary));
        long rejected = byReason.values().stream().mapToLong(Long::longValue).sum();
        if (encoded + rejected != read) {
            throw new IllegalStateException("row count check failed for " + in.uri() + ": read " + read + " rows, "
                    + "encoded " + encoded + " + rejected " + rejected);
        }
        return new SidManifest.Counts(read, encoded, rejected, byReason, 0, 0, 0, encoded, encoded);
    }

    private static SidManifest.Counts incremental(SidManifest.Counts c, Dataset<Row> valid, SidManifest existing,
            Path existingRoot, SparkSession spark, long items) {
        if (existing == null) {
            return new SidManifest.Counts(c.read(), c.encoded(), c.rejected(), c.rejectedByReason(), 0, 0, 0,
                    c.encoded(), items);
        }
        Dataset<Row> ex = spark.read().parquet(existing.idFiles(existingRoot).toArray(String[]::new))
                .select(functions.col(SidTable.ITEM_ID), functions.col(SidTable.SID).as("old_sid"));
        long kept = ex.count();
        Dataset<Row> both = valid.join(ex, SidTable.ITEM_ID);
        long reencoded = both.count();
        long changed = both.filter(functions.col(SidTable.SID).notEqual(functions.col("old_sid"))).count();
        return new SidManifest.Counts(c.read(), c.encoded(), c.rejected(), c.rejectedByReason(), kept, reencoded,
                changed, c.encoded() - reencoded, items);
    }

    /** Column of {@link #ids}: the sid packed into one long (sorts and partitions like the sid), or the sid. */
    static final String KEY = "_sid_key";

    /**
     * @param sizes K per level
     * @return the codes packed into one non-negative long, level 0 in the highest bits (so it orders
     *     as the sid array does), when they fit in 63 bits; else the sid itself
     */
    static Column sidKey(Column sid, int[] sizes) {
        int k = java.util.Arrays.stream(sizes).max().orElse(1);
        int bits = Math.max(1, 32 - Integer.numberOfLeadingZeros(k - 1));
        if ((long) bits * sizes.length > 63) {
            return sid; // arrays sort and partition too, only slower
        }
        Column key = functions.lit(0L);
        for (int d = 0; d < sizes.length; d++) {
            key = key.bitwiseOR(functions.shiftleft(sid.getItem(d).cast("long"), (sizes.length - 1 - d) * bits));
        }
        return key;
    }

    /**
     * The rows of the ID table {@code (item_id, sid, dedup, KEY)} in sid ranges (partition order =
     * sid order), each sorted by sid, then the existing rows by their dedup, then the new rows (dedup
     * null: {@link IdTableTask} numbers them) by item_id.
     *
     * @param partitions sid ranges when Spark cuts them ({@code repartitionByRange}: a sampling job)
     * @param bounds the ranges' upper bounds cut from the encode pass's key sample ({@link
     *     WorkSummary#bounds}; {@code bounds.length + 1} ranges, no sampling job), or null
     */
    static Dataset<Row> ids(SparkSession spark, Dataset<Row> valid, List<String> existing, int[] sizes,
            int partitions, long[] bounds) {
        Column itemId = functions.col(SidTable.ITEM_ID);
        Column sid = functions.col(SidTable.SID);
        Column key = functions.col(KEY);
        Column dedup = functions.col(SidTable.DEDUP);
        Dataset<Row> fresh = valid.select(itemId, sid).withColumn(SidTable.DEDUP, functions.lit(null).cast("int"))
                .withColumn(KEY, sidKey(sid, sizes));
        if (existing == null) {
            if (bounds != null) {
                int n = bounds.length + 1;
                int[] values = hashedTo(n);
                org.apache.spark.sql.expressions.UserDefinedFunction range = functions.udf(
                        (org.apache.spark.sql.api.java.UDF1<Long, Integer>) k -> values[WorkSummary.range(bounds, k)],
                        org.apache.spark.sql.types.DataTypes.IntegerType);
                return fresh.repartition(n, range.apply(key)).sortWithinPartitions(key, itemId);
            }
            return fresh.repartitionByRange(partitions, key).sortWithinPartitions(key, itemId);
        }
        Dataset<Row> ex = spark.read().parquet(existing.toArray(String[]::new)).select(itemId, sid,
                dedup.cast("int").as(SidTable.DEDUP)).withColumn(KEY, sidKey(sid, sizes));
        Dataset<Row> added = fresh.join(ex.select(itemId), SidTable.ITEM_ID, "left_anti");
        return ex.unionByName(added).repartitionByRange(partitions, key)
                .sortWithinPartitions(key, dedup.isNull(), dedup, itemId);
    }

    /**
     * @return for each partition p of {@code n}, an int that Spark's hash partitioning ({@code
     *     repartition(n, column)}: pmod(murmur3(value, seed 42), n)) sends to partition p, so that a
     *     column of range indices mapped through it puts range p in partition p ({@link IdTableTask}
     *     checks every row's range against its partition)
     */
    static int[] hashedTo(int n) {
        int[] v = new int[n];
        java.util.Arrays.fill(v, -1);
        int found = 0;
        for (int x = 0; found < n; x++) {
            int p = Math.floorMod(org.apache.spark.unsafe.hash.Murmur3_x86_32.hashInt(x, 42), n);
            if (v[p] < 0) {
                v[p] = x;
                found++;
            }
        }
        return v;
    }

    private static SidManifest checkExisting(Options o, Configuration conf, String modelSha, ItemInput in)
            throws IOException {
        Path p = new Path(o.existing());
        SidManifest m = SidManifest.read(p, conf);
        if (!m.model().modelSha256().equals(modelSha)) {
            throw new IllegalArgumentException("--existing " + o.existing() + " was assigned by the model "
                    + m.model().modelSha256().substring(0, 12) + " (" + m.model().checkpoint() + "), not by --checkpoint "
                    + o.checkpoint() + " (" + modelSha.substring(0, 12) + "): new IDs must come from the same model");
        }
        String was = m.job() == null || m.job().precision() == null ? Precision.FP32.id() : m.job().precision();
        if (SidCheckpoint.RQVAE.equals(m.model().kind()) && !was.equals(o.precision().id())) {
            throw new IllegalArgumentException("--existing " + o.existing() + " was assigned with --precision " + was
                    + ", this run computes in " + o.precision().id() + ": the two give some items different codes,"
                    + " so one ID table keeps one precision (use --precision " + was + ")");
        }
        if (!m.source().idType().equals(in.idType().simpleString())) {
            throw new IllegalArgumentException("--existing " + o.existing() + " has item ids of type "
                    + m.source().idType() + ", the item table's are " + in.idType().simpleString());
        }
        return m;
    }

    private static SidManifest.Codebooks exportCodebooks(SidCoder coder, Path file, FileSystem fs, String name,
            String kind, String modelSha) throws IOException {
        Map<String, HostTensor> t = new LinkedHashMap<>();
        List<List<Integer>> shapes = new ArrayList<>();
        for (int d = 0; d < coder.depth(); d++) {
            int k = coder.codebookSize(d);
            t.put("codebooks." + d, HostTensor.ofFloats(coder.codebook(d), k, coder.codeDim()));
            shapes.add(List.of(k, coder.codeDim()));
        }
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        Map<String, String> meta = new LinkedHashMap<>(); // in a fixed order: Map.of's changes from JVM to JVM
        meta.put("format", SidTable.FORMAT);
        meta.put("kind", kind);
        meta.put("model_sha256", modelSha);
        SafeTensors.write(t, meta, bytes);
        byte[] b = bytes.toByteArray();
        try (OutputStream out = HadoopDir.createFile(fs, file)) {
            out.write(b);
        }
        return new SidManifest.Codebooks(name, Checkpoints.sha256(b), shapes, coder.depth());
    }

    private static Map<String, String> createdBy() {
        Map<String, String> c = new LinkedHashMap<>();
        c.put("app", "rq assign-sid");
        c.put("rq", Checkpoints.projectVersion());
        c.put("spark", org.apache.spark.package$.MODULE$.SPARK_VERSION());
        Engines.versions().forEach((k, v) -> c.put(k.toString(), v.toString()));
        return c;
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }
}
