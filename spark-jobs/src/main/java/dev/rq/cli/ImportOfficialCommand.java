package dev.rq.cli;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.rq.io.HadoopDir;
import dev.rq.jobs.SparkSessions;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.checkpoint.Manifest;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.config.VaeConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.transformer.TransformerCheckpoint;
import dev.rq.model.vae.RqVae;
import dev.rq.model.vae.VaeCheckpoint;
import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code rq import-official}: converts an official state dict (safetensors; convert a {@code .pt}
 * with the README's one-line Python snippet) and its official config into a checkpoint — an
 * RQ-VAE (config with {@code ddconfig}/{@code hparams}) or an RQ-Transformer (config with {@code
 * body}/{@code head}, needs {@code --vae}: the imported RQ-VAE whose codebook it embeds). Every
 * path is a Hadoop URI; weights stream through in bounded memory (models of any size).
 */
@Command(name = "import-official", mixinStandardHelpOptions = true,
        description = "Turn an official RQ-VAE or RQ-Transformer state dict (safetensors) + config into an rq"
                + " checkpoint.")
public final class ImportOfficialCommand implements Callable<Integer> {

    @Option(names = "--config", required = true,
            description = "Official config URI (config.yaml of a release, or JSON; the model under arch: or at the top)")
    String config;

    @Option(names = "--weights", required = true, description = "state_dict as .safetensors; a path or any Hadoop URI")
    String weights;

    @Option(names = "--out", required = true, description = "Checkpoint directory to write; a path or any Hadoop URI")
    String out;

    @Option(names = "--vae", description = "RQ-Transformer only: the rq RQ-VAE checkpoint (import the official"
            + " stage 1 first) whose codebook the transformer embeds")
    String vae;

    @Override
    public Integer call() throws Exception {
        Configuration conf = SparkSessions.hadoopConf();
        JsonNode tree = ConfigFiles.read(config, "--config");
        JsonNode arch = tree.has("arch") ? tree.get("arch") : tree;
        if (arch.has("body") || arch.has("block_size")) {
            return importTransformer(tree, conf);
        }
        if (vae != null) {
            throw new ConfigException("--vae", "only for RQ-Transformer imports; " + config + " is an RQ-VAE config");
        }
        return importVae(tree, conf);
    }

    private int importVae(JsonNode tree, Configuration conf) throws IOException {
        VaeConfig model = Configs.readOfficialVae(tree);
        Engines.pytorch(0);
        try (InputStream in = open(weights, conf); NDManager m = Engines.newManager();
                RqVae vaeModel = RqVae.fromState(model, reader -> SafeTensors.read(in, reader), m)) {
            Manifest man = VaeCheckpoint.save(new HadoopDir(out, conf), vaeModel, new RqVaeRunConfig(model, null, null),
                    0, null, null);
            System.out.printf("imported the RQ-VAE (%,d trainable parameters, %d tensors) into %s (config %s)%n",
                    vaeModel.params().trainableCount(), vaeModel.stateTensors().size(), out,
                    man.configHash().substring(0, 12));
        }
        return 0;
    }

    private int importTransformer(JsonNode tree, Configuration conf) throws IOException {
        if (vae == null) {
            throw new ConfigException("--vae", "an RQ-Transformer import needs the rq RQ-VAE checkpoint whose codebook"
                    + " it embeds (import the official stage-1 model first)");
        }
        HadoopDir vaeDir = new HadoopDir(vae, conf);
        Checkpoints.Loaded v;
        try {
            v = Checkpoints.open(vaeDir);
        } catch (CheckpointException e) {
            throw new ConfigException("--vae", e.getMessage());
        }
        if (!VaeCheckpoint.KIND.equals(v.manifest().kind())) {
            throw new ConfigException("--vae", vaeDir.uri() + " holds a '" + v.manifest().kind() + "' model, not an"
                    + " RQ-VAE");
        }
        TransformerRunConfig run = TransformerRunConfig.fromOfficial(tree, vaeDir.uri());
        try {
            run.model().checkCompatible(v.config(RqVaeRunConfig.class).model());
        } catch (ConfigException e) {
            throw new ConfigException("--vae", "the RQ-VAE " + vaeDir.uri() + " does not fit this RQ-Transformer: "
                    + e.getMessage());
        }
        Manifest man;
        try (InputStream in = open(weights, conf)) {
            man = TransformerCheckpoint.importOfficial(new HadoopDir(out, conf), run, in);
        }
        System.out.printf("imported the RQ-Transformer (%,d parameters, %.2f GB) into %s (config %s, RQ-VAE %s)%n",
                RqTransformer.parameterCount(run.model()), man.files().get(Checkpoints.MODEL).bytes() / 1e9, out,
                man.configHash().substring(0, 12), vaeDir.uri());
        return 0;
    }

    private static InputStream open(String uri, Configuration conf) throws IOException {
        Path p = new Path(uri);
        try {
            return p.getFileSystem(conf).open(p);
        } catch (java.io.FileNotFoundException e) {
            throw new java.io.FileNotFoundException("--weights: " + uri + " does not exist");
        }
    }
}
