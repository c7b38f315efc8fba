package dev.rq.cli;

import dev.rq.jobs.train.TrainingJob;
import dev.rq.jobs.train.VaeStage;
import dev.rq.model.config.RqVaeRunConfig;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code rq train-vae}: data-parallel RQ-VAE training on Spark. */
@Command(name = "train-vae", mixinStandardHelpOptions = true,
        description = "Train an RQ-VAE data-parallel on Spark (resumes from the run's last checkpoint).")
public final class TrainVaeCommand implements Callable<Integer> {

    @Option(names = "--conf", required = true,
            description = "Run config YAML (conf/rqvae/*.yaml), a local path or any Hadoop URI (s3a://, hdfs://)")
    String conf;

    @Option(names = "--data", required = true, description = "Dataset split URI, e.g. data/emoji/train")
    String data;

    @Option(names = "--out", required = true, description = "Run directory URI (checkpoints, metrics, plots)")
    String out;

    @Mixin
    TrainingFlags training = new TrainingFlags();

    @Override
    public Integer call() throws Exception {
        // the config is bound, validated and checked against the ranks before Spark starts
        RqVaeRunConfig config = ConfigFiles.rqVae(conf, training.overrides());
        VaeStage stage = new VaeStage(config, data);
        TrainingJob.Options o = training.job(stage, out);
        return TrainingFlags.run("train-vae", o, config.train().computePrecision(), null,
                spark -> TrainingJob.run(spark, stage, o));
    }
}
