package dev.rq.cli;

import dev.rq.jobs.train.TrainingJob;
import dev.rq.jobs.train.TransformerStage;
import dev.rq.model.config.TransformerRunConfig;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code rq train-transformer}: data-parallel RQ-Transformer training on a token table. */
@Command(name = "train-transformer", mixinStandardHelpOptions = true,
        description = "Train an RQ-Transformer data-parallel on Spark from a token table (resumes like train-vae).")
public final class TrainTransformerCommand implements Callable<Integer> {

    @Option(names = "--conf", required = true,
            description = "Stage-2 config YAML (conf/rqtransformer/*.yaml), a local path or any Hadoop URI")
    String conf;

    @Option(names = "--tokens", required = true, description = "Token table URI written by rq tokenize")
    String tokens;

    @Option(names = "--vae", required = true, description = "The RQ-VAE checkpoint that wrote the token table")
    String vae;

    @Option(names = "--out", required = true, description = "Run directory URI")
    String out;

    @Option(names = "--split", defaultValue = "train", description = "Training split (default ${DEFAULT-VALUE})")
    String split;

    @Option(names = "--held-out", defaultValue = "validation",
            description = "Split for bits/code at checkpoints; 'none' to skip (default ${DEFAULT-VALUE})")
    String heldOut;

    @Mixin
    TrainingFlags training = new TrainingFlags();

    @Override
    public Integer call() throws Exception {
        List<String> sets = training.overrides();
        sets.add("vae.checkpoint=" + vae);
        // the config is bound, validated and checked against the ranks before Spark starts
        TransformerRunConfig config = ConfigFiles.transformer(conf, sets);
        TransformerStage stage = new TransformerStage(config, tokens, split,
                "none".equals(heldOut) ? null : heldOut);
        TrainingJob.Options o = training.job(stage, out);
        return TrainingFlags.run("train-transformer", o, config.train().computePrecision(), null,
                spark -> TrainingJob.run(spark, stage, o));
    }
}
