package dev.rq.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code rq} command line: {@code bin/rq <subcommand>} locally, and the main class of the
 * assembled jar for {@code spark-submit}.
 */
@Command(
        name = "rq",
        mixinStandardHelpOptions = true,
        versionProvider = RqCli.Version.class,
        description = "Residual-quantized image tokenizers (RQ-VAE, RQ-Transformer) on Spark.",
        subcommands = {
            CommandLine.HelpCommand.class,
            IngestCommand.class,
            BenchCommand.class,
            ImportOfficialCommand.class,
            TokenizeCommand.class,
            DecodeCommand.class,
            TrainVaeCommand.class,
            TrainTransformerCommand.class,
            SampleCommand.class,
            QuickstartCommand.class,
        })
public final class RqCli implements Runnable {

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.setProperty("ai.djl.offline", "true");
        int rc = new CommandLine(new RqCli()).setCaseInsensitiveEnumValuesAllowed(true).execute(args);
        System.exit(rc);
    }

    /** Reports the project version from the jar manifest. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = RqCli.class.getPackage().getImplementationVersion();
            return new String[] {"rq " + (v == null ? "dev" : v)};
        }
    }
}
