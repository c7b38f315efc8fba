package dev.rq.jobs.benchloader;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.dataset.DatasetInfo;
import dev.rq.data.image.ImageTransform;
import dev.rq.data.loader.BatchLoader;
import dev.rq.data.loader.BlockIndex;
import dev.rq.data.loader.BlockStream;
import dev.rq.data.loader.Cursor;
import dev.rq.data.loader.ImageBlocks;
import dev.rq.data.loader.LoaderConfig;
import dev.rq.data.loader.TokenBatchLoader;
import dev.rq.data.loader.TokenBlocks;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.jobs.JobGroup;
import dev.rq.jobs.distributed.SparkBarriers;
import dev.rq.tables.TokenSplit;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.SparkSession;
import scala.reflect.ClassTag;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction1;

/**
 * {@code rq bench-loader}: runs the training loader exactly as N training ranks would (one barrier
 * task per rank, its partitions only, read + decode + augment for images, read + copy for token
 * rows; no model) for E epochs, and measures it:
 *
 * <ul>
 *   <li>{@code samples_per_s}: rows delivered by all ranks / the slowest rank's wall time;
 *   <li>{@code bytes_read}: summed over ranks, from the Hadoop FileSystem statistics of the threads
 *       that read the blocks; {@code read_amplification = bytes_read / (E · dataset_bytes)} where
 *       {@code dataset_bytes} is the size of the split's data files;
 *   <li>{@code peak_heap_mb}: the largest heap occupancy right after a garbage collection in any
 *       rank's JVM during its run (an upper bound of the live heap: G1's young collections leave
 *       old-generation garbage in place); {@code live_heap_at_end_mb}: the heap after a full
 *       collection at the end of the run, the loader's blocks still held; in local mode all ranks
 *       and the driver share one JVM;
 *   <li>{@code peak_cache_mb}: the largest block cache of any rank.
 * </ul>
 *
 * The configuration is checked on the driver before any task starts (the same checks as training).
 */
public final class LoaderBenchJob {

    private static final ObjectMapper JSON = new ObjectMapper();

    private LoaderBenchJob() {}

    /**
     * What to measure.
     *
     * @param data image split folder, or token table root with {@code tokens}
     * @param tokens read a token table instead of images
     * @param split token table split
     * @param latents token tables: also read the latents
     * @param workers N ranks
     * @param epochs E
     * @param loader loader settings (batch, partitions, window, cache, threads)
     * @param imageSize S of the train transform (random crop + flip)
     * @param seed order seed
     */
    public record Options(String data, boolean tokens, String split, boolean latents, int workers, int epochs,
            LoaderConfig loader, int imageSize, long seed) implements Serializable {
        public Options {
            if (workers < 1 || epochs < 1) {
                throw new IllegalArgumentException("--workers and --epochs must be >= 1, got " + workers + ", " + epochs);
            }
        }
    }

    /** Runs the measurement; returns the JSON report. */
    public static ObjectNode run(SparkSession spark, Options o) throws IOException {
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        BlockIndex blocks;
        long datasetBytes;
        String what;
        if (o.tokens()) {
            TokenSplit s = TokenSplit.open(o.data(), o.split(), conf);
            blocks = new TokenBlocks(s, o.latents()).index();
            datasetBytes = s.fileBytes();
            what = s.describe();
        } else {
            CanonicalDataset ds = CanonicalDataset.open(o.data(), conf);
            blocks = new ImageBlocks(ds).index();
            datasetBytes = ds.info().shards().stream().mapToLong(DatasetInfo.Shard::bytes).sum();
            what = "dataset " + o.data();
        }
        o.loader().check(blocks, o.workers(), what); // before any cluster work
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        List<String> results = JobGroup.run(spark, "rq-bench-loader", "rq bench-loader " + o.data() + ": "
                + o.workers() + " ranks, " + o.epochs() + " epochs", false, () -> {
            JavaRDD<Integer> ranks = jsc.parallelize(IntStream.range(0, o.workers()).boxed().toList(), o.workers());
            ClassTag<String> tag = ClassTag$.MODULE$.apply(String.class);
            RDD<String> out = ranks.rdd().barrier().mapPartitions(
                    new RankTask(o, new SerializableHadoopConf(conf)), false, tag);
            return JavaRDD.fromRDD(out, tag).collect();
        });
        return report(o, blocks, datasetBytes, results);
    }

    private static ObjectNode report(Options o, BlockIndex blocks, long datasetBytes, List<String> results)
            throws IOException {
        ObjectNode r = JSON.createObjectNode();
        r.put("kind", o.tokens() ? "tokens" : "images");
        r.put("data", o.data());
        if (o.tokens()) {
            r.put("split", o.split());
            r.put("latents", o.latents());
        } else {
            r.put("image_size", o.imageSize());
        }
        r.put("workers", o.workers());
        r.put("epochs", o.epochs());
        r.put("batch", o.loader().batch());
        r.put("partitions", o.loader().partitions());
        r.put("shuffle_window", o.loader().window());
        r.put("cache_mb", o.loader().cacheBytes() >> 20);
        r.put("read_threads", o.loader().readThreads());
        r.put("decode_threads", o.loader().decodeThreads());
        r.put("rows", blocks.numRows());
        r.put("blocks", blocks.numBlocks());
        long samples = 0;
        long bytes = 0;
        long reads = 0;
        double seconds = 0;
        long peakHeap = 0;
        long liveEnd = 0;
        long peakCache = 0;
        ArrayNode per = JSON.createArrayNode();
        for (String s : results) {
            JsonNode n = JSON.readTree(s);
            per.add(n);
            samples += n.get("samples").asLong();
            bytes += n.get("bytes_read").asLong();
            reads += n.get("block_reads").asLong();
            seconds = Math.max(seconds, n.get("seconds").asDouble());
            peakHeap = Math.max(peakHeap, n.get("peak_heap_bytes").asLong());
            liveEnd = Math.max(liveEnd, n.get("live_heap_at_end_bytes").asLong());
            peakCache = Math.max(peakCache, n.get("peak_cache_bytes").asLong());
        }
        r.put("samples", samples);
        r.put("seconds", seconds);
        r.put("samples_per_s", samples / seconds);
        r.put("dataset_bytes", datasetBytes);
        r.put("bytes_read", bytes);
        r.put("read_amplification", (double) bytes / ((double) o.epochs() * datasetBytes));
        r.put("block_reads", reads);
        r.put("peak_cache_mb", peakCache / 1048576.0);
        r.put("peak_heap_mb", peakHeap / 1048576.0);
        r.put("live_heap_at_end_mb", liveEnd / 1048576.0);
        r.put("max_heap_mb", Runtime.getRuntime().maxMemory() / 1048576.0);
        r.put("cores", Runtime.getRuntime().availableProcessors());
        r.put("java", System.getProperty("java.version"));
        r.set("ranks", per);
        return r;
    }

    /**
     * One rank: its loader for E epochs, timed from a barrier that all ranks pass together, with its
     * read statistics and the JVM's peak heap.
     */
    private static final class RankTask extends AbstractFunction1<Iterator<Integer>, Iterator<String>>
            implements Serializable {
        private static final long serialVersionUID = 1L;
        private final Options o;
        private final SerializableHadoopConf conf;

        RankTask(Options o, SerializableHadoopConf conf) {
            this.o = o;
            this.conf = conf;
        }

        @Override
        public Iterator<String> apply(Iterator<Integer> ignored) {
            BarrierTaskContext ctx = BarrierTaskContext.get();
            try {
                return CollectionConverters.asScala(List.of(runRank(ctx)).iterator());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        private String runRank(BarrierTaskContext ctx) throws IOException {
            int rank = ctx.partitionId();
            Configuration c = conf.get();
            LoaderConfig lc = o.loader();
            long samples = 0;
            long t0;
            double seconds;
            long liveAtEnd;
            BlockStream<?> stream;
            HeapWatch heap = new HeapWatch();
            try {
                if (o.tokens()) {
                    TokenSplit s = TokenSplit.open(o.data(), o.split(), c);
                    try (TokenBatchLoader l = new TokenBatchLoader(s, lc, o.latents(), o.seed(), rank, o.workers(),
                            Cursor.start(), o.epochs())) {
                        stream = l.stream();
                        long steps = o.epochs() * l.stepsPerEpoch();
                        SparkBarriers.barrier(ctx);
                        t0 = System.nanoTime();
                        for (long i = 0; i < steps; i++) {
                            samples += l.next().size();
                        }
                        seconds = (System.nanoTime() - t0) / 1e9;
                        liveAtEnd = heap.liveHeap(); // with the loader's blocks still held
                    }
                } else {
                    try (BatchLoader l = BatchLoader.builder()
                            .setDataset(CanonicalDataset.open(o.data(), c))
                            .setGlobalBatchSize(lc.batch())
                            .optRank(rank, o.workers())
                            .optSeed(o.seed())
                            .optPartitions(lc.partitions())
                            .optShuffleWindow(lc.window())
                            .optCacheBytes(lc.cacheBytes())
                            .optReadThreads(lc.readThreads())
                            .optThreads(lc.decodeThreads())
                            .setTransform(new ImageTransform(o.imageSize(), ImageTransform.Mode.TRAIN))
                            .optEndEpoch(o.epochs())
                            .build()) {
                        stream = l.stream();
                        SparkBarriers.barrier(ctx);
                        t0 = System.nanoTime();
                        while (l.hasNext()) {
                            samples += l.next().size();
                        }
                        seconds = (System.nanoTime() - t0) / 1e9;
                        liveAtEnd = heap.liveHeap(); // with the loader's blocks still held
                    }
                }
            } finally {
                heap.close();
            }
            ObjectNode n = JSON.createObjectNode();
            n.put("rank", rank);
            n.put("samples", samples);
            n.put("seconds", seconds);
            n.put("samples_per_s", samples / seconds);
            n.put("bytes_read", stream.bytesRead());
            n.put("block_reads", stream.blockReads());
            n.put("peak_cache_bytes", stream.peakCacheBytes());
            n.put("peak_heap_bytes", heap.peak());
            n.put("live_heap_at_end_bytes", liveAtEnd);
            n.put("gc_count", heap.collections());
            n.put("max_heap_bytes", Runtime.getRuntime().maxMemory());
            return n.toString();
        }
    }
}
