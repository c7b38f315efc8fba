package dev.rq.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.rq.model.bench.VaeBench;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.engine.Engines;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code rq bench}: in-process throughput of tokenization and training steps. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure tokenize and RQ-VAE train-step images/s in-process (after warm-up).")
public final class BenchCommand implements Callable<Integer> {

    @Option(names = "--conf", required = true, description = "Model config YAML, e.g. conf/rqvae/bench64.yaml")
    Path conf;

    @Option(names = "--json", description = "Write the results as JSON to this file")
    Path json;

    @Option(names = "--threads", defaultValue = "2", description = "libtorch intra-op threads (default ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--batch", defaultValue = "16", description = "Images per call (default ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--warmup", defaultValue = "3", description = "Untimed iterations (default ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--iters", defaultValue = "10", description = "Timed iterations at least (default ${DEFAULT-VALUE})")
    int iters;

    @Option(names = "--min-seconds", defaultValue = "10", description = "Timed seconds at least per measurement")
    double minSeconds;

    @Option(names = "--set", description = "Config override key=value (repeatable)")
    List<String> overrides = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        RqVaeRunConfig config = Configs.loadRqVae(conf, overrides);
        Map<String, Object> r = VaeBench.run(config, new VaeBench.Settings(threads, batch, warmup, iters, minSeconds));
        Map<String, Object> out = new LinkedHashMap<>(r);
        out.put("threads", threads);
        out.put("batch", batch);
        out.put("config_file", conf.toString());
        out.put("config", Configs.toTree(config.model()));
        Map<String, String> versions = new LinkedHashMap<>();
        versions.put("rq", Checkpoints.projectVersion());
        Engines.versions().forEach((k, v) -> versions.put(k.toString(), v.toString()));
        out.put("versions", versions);
        System.out.printf("%-24s %12s%n", "measure", "value");
        r.forEach((k, v) -> System.out.printf("%-24s %12s%n", k,
                v instanceof Double d ? String.format("%.2f", d) : v));
        if (json != null) {
            if (json.toAbsolutePath().getParent() != null) {
                Files.createDirectories(json.toAbsolutePath().getParent());
            }
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(json.toFile(), out);
            System.out.println("wrote " + json);
        }
        return 0;
    }
}
