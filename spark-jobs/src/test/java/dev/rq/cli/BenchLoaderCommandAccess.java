package dev.rq.cli;

import dev.rq.jobs.benchloader.LoaderBenchJob;
import picocli.CommandLine;

/** Parses {@code rq bench-loader} arguments and resolves its options, for tests in other packages. */
public final class BenchLoaderCommandAccess {

    private BenchLoaderCommandAccess() {}

    public static LoaderBenchJob.Options options(String... args) throws Exception {
        BenchLoaderCommand c = new BenchLoaderCommand();
        new CommandLine(c).parseArgs(args);
        return c.options();
    }
}
