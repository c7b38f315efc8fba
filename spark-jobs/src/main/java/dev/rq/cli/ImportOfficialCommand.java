package dev.rq.cli;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.rq.io.HadoopDir;
import dev.rq.jobs.SparkSessions;
import dev.rq.model.checkpoint.Manifest;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.VaeConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.vae.RqVae;
import dev.rq.model.vae.VaeCheckpoint;
import java.io.InputStream;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code rq import-official}: converts an official RQ-VAE state dict (safetensors; convert a
 * {@code .pt} with the README's one-line Python snippet) and its config into a checkpoint.
 */
@Command(name = "import-official", mixinStandardHelpOptions = true,
        description = "Turn an official RQ-VAE state dict (safetensors) + config into an rq checkpoint.")
public final class ImportOfficialCommand implements Callable<Integer> {

    @Option(names = "--config", required = true,
            description = "Official config (JSON or YAML with ddconfig/hparams, or under arch:); a path or any Hadoop URI")
    String config;

    @Option(names = "--weights", required = true, description = "state_dict as .safetensors; a path or any Hadoop URI")
    String weights;

    @Option(names = "--out", required = true, description = "Checkpoint directory to write; a path or any Hadoop URI")
    String out;

    @Override
    public Integer call() throws Exception {
        Configuration hadoop = SparkSessions.hadoopConf();
        JsonNode tree = ConfigFiles.read(config, "--config");
        VaeConfig vae = Configs.readOfficialVae(tree);
        SafeTensors.Contents state;
        org.apache.hadoop.fs.Path w = new org.apache.hadoop.fs.Path(weights);
        try (InputStream in = w.getFileSystem(hadoop).open(w)) {
            state = SafeTensors.read(in);
        } catch (java.io.FileNotFoundException e) {
            throw new java.io.FileNotFoundException("--weights: " + weights + " does not exist");
        }
        Engines.pytorch(0);
        try (NDManager m = Engines.newManager(); RqVae model = RqVae.fromStateDict(vae, state.tensors(), m)) {
            RqVaeRunConfig run = new RqVaeRunConfig(vae, null, null);
            Manifest man = VaeCheckpoint.save(new HadoopDir(out, hadoop), model, run, 0, null, null);
            System.out.printf("imported %d tensors (%,d trainable parameters) into %s (config %s)%n",
                    state.tensors().size(), model.params().trainableCount(), out, man.configHash().substring(0, 12));
        }
        return 0;
    }
}
