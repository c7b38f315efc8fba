package dev.rq.cli;

import dev.rq.jobs.SparkSessions;
import java.io.PrintWriter;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/**
 * The {@code rq} command line: {@code bin/rq <subcommand>} locally, and the main class of the
 * assembled jar for {@code spark-submit}.
 *
 * <p>Exit codes (see {@link Failures}): 0 success; 2 user error (bad arguments, config, paths or
 * input), reported as one line {@code rq <command>: <what, where, what to do>}; 1 crash, reported
 * as one line that names the log holding the stack trace. Every failure's stack trace goes to the
 * {@code rq.trace} logger (bin/rq: the log file named by {@code -Drq.log.file}; spark-submit: the
 * driver log); {@code --verbose} also prints it on the console.
 */
@Command(
        name = "rq",
        mixinStandardHelpOptions = true,
        versionProvider = RqCli.Version.class,
        description = "Residual-quantized image tokenizers (RQ-VAE, RQ-Transformer) on Spark.",
        footer = {"", "Exit codes: 0 done, 1 crash (stack trace in the log), 2 user error (bad arguments,"
                + " config, paths or input)."},
        subcommands = {
            CommandLine.HelpCommand.class,
            IngestCommand.class,
            BenchCommand.class,
            BenchLoaderCommand.class,
            ImportOfficialCommand.class,
            TokenizeCommand.class,
            DecodeCommand.class,
            TrainVaeCommand.class,
            TrainTransformerCommand.class,
            SampleCommand.class,
            EvalCommand.class,
            QuickstartCommand.class,
            QueryCommand.class,
            TrainSidCommand.class,
            AssignSidCommand.class,
            SidQuickstartCommand.class,
            SidItemsCommand.class,
            SidReportCommand.class,
        })
public final class RqCli implements Runnable {

    /** Where every failure's stack trace is logged (bin/rq routes it to the log file only). */
    static final Logger TRACE = LoggerFactory.getLogger("rq.trace");

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    boolean verbose;

    @Option(names = "--verbose", scope = ScopeType.INHERIT,
            description = "Print the stack trace of a failure on the console (it is always in the log).")
    void setVerbose(boolean v) {
        verbose = v;
    }

    @Option(names = "--spark-conf", scope = ScopeType.INHERIT, paramLabel = "KEY=VALUE",
            description = {"A Spark setting, as spark-submit --conf (repeatable; spark.hadoop.* reaches every Hadoop"
                + " file system the command uses, e.g. spark.hadoop.fs.s3a.endpoint=...). Over"
                + " $SPARK_CONF_DIR/spark-defaults.conf, which is read too; the jobs never override either."})
    void addSparkConf(List<String> keyValues) { // picocli passes every value given so far
        try {
            keyValues.forEach(SparkSessions::userSetting);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    public static void main(String[] args) {
        System.setProperty("ai.djl.offline", "true");
        try {
            SparkSessions.loadDefaultsFile(System.getenv()); // as spark-submit does (not again under it)
        } catch (java.io.IOException e) {
            System.err.println("rq: cannot read spark-defaults.conf: " + e.getMessage());
            System.exit(Failures.USER_ERROR);
        }
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        int rc = commandLine(out, err).execute(args);
        out.flush();
        err.flush();
        System.exit(rc);
    }

    /**
     * The configured command line: {@code execute(args)} runs a command and returns its exit code.
     * Tests add subcommands to it.
     *
     * @param out where usage help and version go
     * @param err where the one-line failure reports go
     */
    static CommandLine commandLine(PrintWriter out, PrintWriter err) {
        RqCli root = new RqCli();
        CommandLine cl = new CommandLine(root).setCaseInsensitiveEnumValuesAllowed(true);
        cl.setOut(out);
        cl.setErr(err);
        cl.setParameterExceptionHandler((ex, args) -> {
            String name = ex.getCommandLine().getCommandSpec().qualifiedName();
            String suggestions = "";
            if (ex instanceof CommandLine.UnmatchedArgumentException u && !u.getSuggestions().isEmpty()) {
                suggestions = " (did you mean " + String.join(" or ", u.getSuggestions()) + "?)";
            }
            err.println(name + ": " + Failures.oneLine(String.valueOf(ex.getMessage())) + suggestions
                    + "; see '" + name + " --help'");
            TRACE.info("{} {}: bad arguments", name, String.join(" ", args), ex);
            return Failures.USER_ERROR;
        });
        cl.setExecutionExceptionHandler((ex, sub, parseResult) -> report(ex, sub, root.verbose, err));
        return cl;
    }

    /** Prints the one-line report of a failed command, logs its stack trace, returns the exit code. */
    static int report(Throwable ex, CommandLine sub, boolean verbose, PrintWriter err) {
        String name = sub.getCommandSpec().qualifiedName();
        boolean user = Failures.userCause(ex) != null;
        TRACE.error("{} failed ({})", name, user ? "user error" : "crash", ex);
        String msg = Failures.message(ex);
        if (user) {
            err.println(name + ": " + msg);
        } else {
            String log = System.getProperty("rq.log.file");
            err.println(name + ": internal error: " + msg + " (stack trace in "
                    + (log == null ? "the driver log" : log)
                    + (verbose ? "" : "; rerun with --verbose to print it") + ")");
        }
        if (verbose) {
            ex.printStackTrace(err);
        }
        err.flush();
        return user ? Failures.USER_ERROR : Failures.CRASH;
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
