package dev.rq.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.data.loader.LoaderConfig;
import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.benchloader.LoaderBenchJob;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.Configs;
import dev.rq.model.config.DataConfig;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.TrainConfig;
import dev.rq.model.config.TransformerRunConfig;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code rq bench-loader}: the training loader alone (read + decode + augment, no model) for E
 * epochs exactly as N ranks would run it, with samples/s, bytes read, read amplification and
 * peak heap ({@link LoaderBenchJob}).
 */
@Command(name = "bench-loader", mixinStandardHelpOptions = true,
        header = "Measure the training loader alone: samples/s, bytes read, heap.",
        description = {"Run the training loader (read + decode + random crop/flip; token rows with --tokens) for E",
            "epochs as N ranks would, without a model; report samples/s, bytes read (Hadoop FileSystem statistics",
            "of all ranks), read amplification = bytes read / (E x dataset bytes), peak heap."})
public final class BenchLoaderCommand implements Callable<Integer> {

    @Option(names = "--data", required = true,
            description = "Image split folder (<root>/<split>), or a token table root with --tokens")
    String data;

    @Option(names = "--tokens", description = "Read a token table (codes, labels, latents) instead of images")
    boolean tokens;

    @Option(names = "--split", defaultValue = "train", description = "Token table split (default ${DEFAULT-VALUE})")
    String split;

    @Option(names = "--codes-only", description = "Token tables: do not read the latents (hard targets)")
    boolean codesOnly;

    @Option(names = "--workers", defaultValue = "1", description = "Ranks N (default ${DEFAULT-VALUE})")
    int workers;

    @Option(names = "--epochs", defaultValue = "1", description = "Epochs E (default ${DEFAULT-VALUE})")
    int epochs;

    @Option(names = "--conf", description = "Run config: batch (batch_size / grad_accum_steps), image size and"
            + " data.* come from it (a path or any Hadoop URI)")
    String conf;

    @Option(names = "--batch-size", description = "Global batch without --conf (default 128)")
    Integer batchSize;

    @Option(names = "--image-size", description = "Crop size S without --conf (default 256)")
    Integer imageSize;

    @Option(names = "--seed", defaultValue = "0", description = "Order seed (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--set", description = "Config override key=value, e.g. data.cache_mb=256 (repeatable)")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--json", description = "Write the report as JSON to this URI")
    String json;

    @Override
    public Integer call() throws Exception {
        LoaderBenchJob.Options o = options();
        SparkSession spark = SparkSessions.getOrCreate("bench-loader", workers);
        try {
            ObjectNode r = LoaderBenchJob.run(spark, o);
            System.out.printf(Locale.ROOT, "%s, %d ranks, %d epochs: %.1f samples/s, read amplification %.3f"
                            + " (%d of %d bytes per epoch), peak heap %.0f MiB, peak block cache %.0f MiB%n",
                    r.get("kind").asText(), workers, epochs, r.get("samples_per_s").asDouble(),
                    r.get("read_amplification").asDouble(), r.get("bytes_read").asLong() / epochs,
                    r.get("dataset_bytes").asLong(), r.get("peak_heap_mb").asDouble(),
                    r.get("peak_cache_mb").asDouble());
            if (json != null) {
                org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(json);
                try (OutputStream out = p.getFileSystem(spark.sparkContext().hadoopConfiguration()).create(p, true)) {
                    new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(out, r);
                }
                System.out.println("wrote " + json);
            }
            return 0;
        } finally {
            spark.stop();
        }
    }

    /** Resolves the loader settings from --conf / --set, failing before Spark starts. */
    LoaderBenchJob.Options options() throws Exception {
        DataConfig d;
        int batch;
        int size;
        if (conf != null) {
            JsonNode tree = Configs.applyOverrides(ConfigFiles.read(conf, "--conf"), overrides);
            if (tree.has("vae")) { // a stage-2 config
                TransformerRunConfig c = TransformerRunConfig.bind(tree);
                d = c.data();
                batch = accumulation(c.train());
                size = imageSize == null ? 256 : imageSize;
            } else {
                RqVaeRunConfig c = Configs.bind(tree, RqVaeRunConfig.class, "");
                d = c.data();
                batch = accumulation(c.train());
                size = c.model().ddconfig().resolution();
            }
        } else {
            JsonNode tree = Configs.applyOverrides(new ObjectMapper().createObjectNode(), overrides);
            tree.fieldNames().forEachRemaining(k -> {
                if (!k.equals("data")) {
                    throw new ConfigException(k, "without --conf only data.* keys can be set");
                }
            });
            d = tree.has("data") ? Configs.bind(tree.get("data"), DataConfig.class, "data") : DataConfig.defaults();
            batch = batchSize == null ? 128 : batchSize;
            size = imageSize == null ? 256 : imageSize;
        }
        ConfigException.require(batch > 0, "--batch-size", "must be positive, got %s", batch);
        return new LoaderBenchJob.Options(data, tokens, split, !codesOnly, workers, epochs, LoaderConfig.of(d, batch),
                size, seed);
    }

    private static int accumulation(TrainConfig t) {
        return t.batchSize() / t.gradAccumSteps();
    }
}
