package dev.rq.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import dev.rq.io.HadoopDir;
import dev.rq.jobs.SparkSessions;
import dev.rq.model.bench.TransformerBench;
import dev.rq.model.bench.VaeBench;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.config.VaeConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.engine.Precision;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code rq bench}: in-process throughput. An RQ-VAE config ({@code conf/rqvae/*.yaml}) measures
 * tokenize and RQ-VAE train-step images/s ({@link VaeBench}); a stage-2 config ({@code
 * conf/rqtransformer/*.yaml}, recognised by its {@code vae:} section) measures RQ-Transformer
 * train-step (forward + backward + AdamW) and KV-cached sampling images/s ({@link TransformerBench},
 * top-k 100, top-p 0.95).
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        header = "Measure tokenize, train-step and sampling images/s in-process.",
        description = {"Measure images/s in-process (after warm-up): tokenize and RQ-VAE train step for an RQ-VAE",
            "config; RQ-Transformer train step (fwd+bwd+AdamW) and KV-cached sampling (top-k 100, top-p 0.95)",
            "for a stage-2 config (conf/rqtransformer/*.yaml, has a vae: section)."})
public final class BenchCommand implements Callable<Integer> {

    @Option(names = "--conf", required = true,
            description = "Run config YAML: conf/rqvae/bench64.yaml (RQ-VAE) or conf/rqtransformer/bench64.yaml (stage 2);"
                    + " a path or any Hadoop URI")
    String conf;

    @Option(names = "--json", description = "Write the results as JSON to this file (a path or any Hadoop URI)")
    String json;

    @Option(names = "--threads", defaultValue = "2", description = "libtorch intra-op threads (default ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--batch", defaultValue = "16", description = "Images per call (default ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--warmup", description = "Untimed iterations at least (default 3; stage 2: 1)")
    Integer warmup;

    @Option(names = "--max-warmup-seconds", defaultValue = "60",
            description = {"Then more untimed iterations of the headline measures until the JIT compiler has settled",
                "(its threads' CPU <= 1% of the calling thread's CPU over the last half of the warm-up), at most this long",
                "(default ${DEFAULT-VALUE}; 0: exactly --warmup). The JSON records *_warmup_calls, *_jit_settled,",
                "*_jit_ms_per_call and *_gc_ms_per_call (JIT/GC threads' CPU during the timed calls)."})
    double maxWarmupSeconds;

    @Option(names = "--iters", description = "Timed iterations at least (default 10; stage 2: 3, sampling half)")
    Integer iters;

    @Option(names = "--min-seconds", description = "Timed seconds at least per measurement (default 10)")
    Double minSeconds;

    @Option(names = "--set", description = "Config override key=value (repeatable)")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--precision", defaultValue = "both", paramLabel = "fp32|bf16|both",
            description = "Precisions to measure (default: both; bf16 only on CPUs with bfloat16 units or GPUs)")
    String precision;

    /** @return the precisions to measure; bf16 is dropped, with a note, where the CPU lacks it */
    List<Precision> precisions() {
        List<Precision> ps = precision.equalsIgnoreCase("both") ? List.of(Precision.FP32, Precision.BF16)
                : List.of(Precision.parse(precision));
        if (ps.contains(Precision.BF16) && !Precision.cpuHasBf16()) {
            if (!precision.equalsIgnoreCase("both")) {
                Precision.BF16.requireSupportedOnCpu(); // asked for explicitly: an error
            }
            System.out.println("bf16 not measured: this CPU has no bfloat16 units (AVX512-BF16, AMX, ARM BF16)");
            ps = List.of(Precision.FP32);
        }
        return ps;
    }

    @Override
    public Integer call() throws Exception {
        if (!(maxWarmupSeconds >= 0)) {
            throw new IllegalArgumentException("--max-warmup-seconds must be >= 0, got " + maxWarmupSeconds);
        }
        Map<String, Object> r;
        Map<String, Object> out = new LinkedHashMap<>();
        JsonNode tree = ConfigFiles.read(conf, "--conf");
        if (tree.has("vae")) { // a stage-2 config
            TransformerRunConfig config = TransformerRunConfig.bind(Configs.applyOverrides(tree, overrides));
            TransformerBench.Settings std = TransformerBench.Settings.standard();
            TransformerBench.Settings s = new TransformerBench.Settings(threads, batch,
                    warmup == null ? std.warmup() : warmup, maxWarmupSeconds, iters == null ? std.minIters() : iters,
                    minSeconds == null ? std.minSeconds() : minSeconds, std.topK(), std.topP());
            r = TransformerBench.run(config, vaeConfig(config), s, precisions());
            out.put("kind", "rqtransformer");
            out.putAll(r);
            out.put("sample_top_k", s.topK());
            out.put("sample_top_p", s.topP());
            out.put("sample_kv_cache", true);
            out.put("threads", threads);
            out.put("batch", batch);
            out.put("config_file", conf);
            out.put("config", Configs.toTree(config.model()));
        } else {
            RqVaeRunConfig config = Configs.bind(Configs.applyOverrides(tree, overrides), RqVaeRunConfig.class, "");
            r = VaeBench.run(config, new VaeBench.Settings(threads, batch, warmup == null ? 3 : warmup,
                    maxWarmupSeconds, iters == null ? 10 : iters, minSeconds == null ? 10 : minSeconds), precisions());
            out.putAll(r);
            out.put("threads", threads);
            out.put("batch", batch);
            out.put("config_file", conf);
            out.put("config", Configs.toTree(config.model()));
        }
        Map<String, String> versions = new LinkedHashMap<>();
        versions.put("rq", Checkpoints.projectVersion());
        Engines.versions().forEach((k, v) -> versions.put(k.toString(), v.toString()));
        out.put("versions", versions);
        System.out.printf("%-32s %12s%n", "measure", "value");
        r.forEach((k, v) -> System.out.printf("%-32s %12s%n", k,
                v instanceof Double d ? String.format(d < 0.1 ? "%.2e" : "%.2f", d) : v));
        if (json != null) {
            org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(json);
            org.apache.hadoop.fs.FileSystem fs = p.getFileSystem(SparkSessions.hadoopConf());
            if (p.getParent() != null) {
                fs.mkdirs(p.getParent());
            }
            try (java.io.OutputStream o = HadoopDir.createFile(fs, p)) {
                new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(o, out);
            }
            System.out.println("wrote " + fs.makeQualified(p));
        }
        return 0;
    }

    /** The RQ-VAE model config of a stage-2 run: {@code vae.config} if set, else the checkpoint's. */
    private VaeConfig vaeConfig(TransformerRunConfig config) throws java.io.IOException {
        if (config.vae().config() != null) {
            return ConfigFiles.rqVae(ConfigFiles.sibling(conf, config.vae().config()), List.of()).model();
        }
        return Checkpoints.read(new HadoopDir(config.vae().checkpoint(), SparkSessions.hadoopConf()))
                .config(RqVaeRunConfig.class).model();
    }
}
