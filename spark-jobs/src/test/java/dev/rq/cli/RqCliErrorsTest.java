package dev.rq.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rq.data.TestImages;
import dev.rq.jobs.SparkSessions;
import dev.rq.jobs.tokenize.TokenFixtures;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.LoggerConfig;
import org.apache.logging.log4j.core.config.Property;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The error policy of the {@code rq} command line, walked through a table of bad invocations run
 * in-process (real commands, real local Spark sessions): a user error prints one line naming what
 * is wrong and where, and exits 2; a crash prints one line naming the log and exits 1; the stack
 * trace always goes to the {@code rq.trace} logger, and to the console only with {@code --verbose}.
 */
class RqCliErrorsTest {

    @TempDir static Path tmp;
    static Path checkpoint;
    static Path truncated;
    static Path emptySplit;
    static final List<LogEvent> TRACES = new ArrayList<>();
    static AbstractAppender traceCapture;

    @BeforeAll
    static void fixtures() throws Exception {
        checkpoint = TokenFixtures.tinyCheckpoint(tmp.resolve("ckpt"), 1);
        // a dataset split whose Parquet shard lost its tail
        truncated = tmp.resolve("truncated/validation");
        Files.createDirectories(truncated);
        try (Stream<Path> s = Files.list(Path.of(TokenFixtures.emojiValidation()))) {
            for (Path p : s.toList()) {
                Files.copy(p, truncated.resolve(p.getFileName()));
            }
        }
        try (RandomAccessFile f = new RandomAccessFile(
                truncated.resolve("validation-00000-of-00001.parquet").toFile(), "rw")) {
            f.setLength(f.length() / 2);
        }
        // a complete split without images (an old ingest could write one)
        emptySplit = tmp.resolve("empty-ds/train");
        Files.createDirectories(emptySplit);
        String info = Files.readString(Path.of(TokenFixtures.emojiValidation(), "_dataset_info.json"));
        Files.writeString(emptySplit.resolve("_dataset_info.json"), info
                .replaceAll("\"split\"\\s*:\\s*\"validation\"", "\"split\":\"train\"")
                .replaceAll("\"numRows\"\\s*:\\s*\\d+", "\"numRows\":0")
                .replaceAll("\"shards\"\\s*:\\s*\\[[^\\]]*\\]", "\"shards\":[]")
                .replaceAll("\"countsPerLabel\"\\s*:\\s*\\{[^}]*\\}", "\"countsPerLabel\":{}"));
        Files.createDirectories(tmp.resolve("empty-source"));
        Files.createDirectories(tmp.resolve("not-a-table"));
        Files.writeString(tmp.resolve("not-a-table/notes.txt"), "keep me");

    }

    /**
     * Routes the {@code rq.trace} logger to {@link #TRACES}. Installed where it is used: starting
     * Spark may reconfigure Log4j, which drops loggers added earlier.
     */
    static synchronized void captureTraces() {
        if (traceCapture == null) {
            traceCapture = new AbstractAppender("rq-trace-capture", null, null, true, Property.EMPTY_ARRAY) {
                @Override
                public void append(LogEvent event) {
                    synchronized (TRACES) {
                        TRACES.add(event.toImmutable());
                    }
                }
            };
            traceCapture.start();
        }
        LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
        LoggerConfig lc = new LoggerConfig("rq.trace", org.apache.logging.log4j.Level.INFO, false);
        lc.addAppender(traceCapture, null, null);
        ctx.getConfiguration().addLogger("rq.trace", lc);
        ctx.updateLoggers();
    }

    @AfterAll
    static void stop() {
        if (traceCapture != null) {
            LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
            ctx.getConfiguration().removeLogger("rq.trace");
            ctx.updateLoggers();
            traceCapture.stop();
        }
    }

    static String repo(String p) {
        return TokenFixtures.repo().resolve(p).toString();
    }

    static String t(String p) {
        return tmp.resolve(p).toString();
    }

    /** Bad invocations: arguments, the exit code, fragments the one console line must hold. */
    static Stream<Arguments> badInvocations() {
        String tiny = repo("conf/rqvae/tiny.yaml");
        String ck = checkpoint.toString();
        return Stream.of(
                Arguments.of("missing dataset", List.of("train-vae", "--conf", tiny, "--data", t("missing/train"),
                        "--out", t("r1")), List.of(t("missing/train"), "no such dataset split", "rq ingest")),
                Arguments.of("dataset root instead of a split", List.of("train-vae", "--conf", tiny, "--data",
                        repo("data/emoji"), "--out", t("r2")), List.of("is a dataset root, not a split",
                        repo("data/emoji/train"))),
                Arguments.of("truncated shard (training)", List.of("train-vae", "--conf", tiny, "--data",
                        truncated.toString(), "--out", t("r3")), List.of("validation-00000-of-00001.parquet",
                        "truncated or replaced", "re-ingest")),
                Arguments.of("truncated shard (tokenize)", List.of("tokenize", "--checkpoint", ck, "--data",
                        truncated.toString(), "--output", t("tok1")), List.of("truncated or replaced")),
                Arguments.of("unknown config key", List.of("train-vae", "--conf", tiny, "--data",
                        repo("data/emoji/validation"), "--out", t("r4"), "--set", "train.nope=1"),
                        List.of("train.nope: unknown key", "known keys")),
                Arguments.of("a number for a boolean key", List.of("train-vae", "--conf", tiny, "--data",
                        repo("data/emoji/validation"), "--out", t("r14"), "--set", "train.shard_optimizer_state=2"),
                        List.of("train.shard_optimizer_state: expected true or false, got 2")),
                Arguments.of("missing config file", List.of("train-vae", "--conf", t("nope.yaml"), "--data",
                        repo("data/emoji/validation"), "--out", t("r5")), List.of("--conf", t("nope.yaml"), "does not exist")),
                Arguments.of("wrong checkpoint kind", List.of("sample", "--checkpoint", ck, "--vae", ck,
                        "--output", t("s1"), "--per-class", "1"), List.of("--checkpoint", "holds a 'rqvae' model",
                        "not an RQ-Transformer")),
                Arguments.of("output exists", List.of("tokenize", "--checkpoint", ck, "--data",
                        repo("data/emoji/validation"), "--output", t("not-a-table")),
                        List.of(t("not-a-table"), "is not a token table", "refusing to replace it")),
                Arguments.of("empty ingest source", List.of("ingest", "--input", t("empty-source"), "--format",
                        "imagefolder", "--output", t("ds")), List.of("--input", t("empty-source"), "nothing to ingest")),
                Arguments.of("empty dataset (training)", List.of("train-vae", "--conf", tiny, "--data",
                        emptySplit.toString(), "--out", t("r6")), List.of(emptySplit.toString(), "is empty")),
                Arguments.of("empty dataset (tokenize)", List.of("tokenize", "--checkpoint", ck, "--data",
                        emptySplit.toString(), "--output", t("tok2")), List.of(emptySplit.toString(), "is empty")),
                Arguments.of("missing option", List.of("tokenize", "--checkpoint", ck),
                        List.of("rq tokenize: Missing required options", "--data", "see 'rq tokenize --help'")),
                Arguments.of("unknown subcommand", List.of("tokenise"), List.of("rq: ", "'tokenise'",
                        "did you mean tokenize")),
                Arguments.of("query of a missing table", List.of("query", "--table", "t=" + t("no-table"), "--sql",
                        "SELECT 1"), List.of("--table t", t("no-table"), "does not exist")),
                Arguments.of("query naming an unknown column", List.of("query", "--table", "t="
                        + repo("data/emoji/validation"), "--sql", "SELECT nope FROM t"), List.of("rq query: ",
                        "`nope` cannot be resolved")),
                Arguments.of("query naming an unknown column, to a file", List.of("query", "--table", "t="
                        + repo("data/emoji/validation"), "--sql", "SELECT nope FROM t", "--output", t("q.csv")),
                        List.of("rq query: ", "`nope` cannot be resolved")),
                Arguments.of("bad option value", List.of("ingest", "--input", "x", "--format", "zip", "--output", "y"),
                        List.of("rq ingest: Invalid value for option '--format'", "zip")),
                Arguments.of("bad member cap", List.of("ingest", "--input", "x", "--format", "webdataset", "--output",
                        "y", "--max-member-mb", "0"), List.of("rq ingest: ", "--max-member-mb must be positive", "got 0.0")),
                Arguments.of("bad row-group size", List.of("ingest", "--input", "x", "--format", "webdataset", "--output",
                        "y", "--row-group-mb", "-1"), List.of("rq ingest: ", "--row-group-mb must be positive")),
                // the shared training flags: the config is checked against the ranks before Spark starts
                Arguments.of("batch not shared by the ranks (train-vae)", List.of("train-vae", "--conf", tiny,
                        "--data", repo("data/emoji/validation"), "--out", t("r7"), "--workers", "3"),
                        List.of("rq train-vae: train.batch_size: ", "cannot be shared by 3 workers")),
                Arguments.of("batch not shared by the ranks (train-transformer)", List.of("train-transformer",
                        "--conf", repo("conf/rqtransformer/tiny.yaml"), "--tokens", t("no-tokens"), "--vae", ck,
                        "--out", t("r8"), "--workers", "3"), List.of("train.batch_size: ",
                        "cannot be shared by 3 workers")),
                Arguments.of("batch not shared by the ranks (train-sid)", List.of("train-sid", "--conf",
                        repo("conf/sid/tiny.yaml"), "--data", t("no-items"), "--out", t("r9"), "--workers", "3"),
                        List.of("train.batch_size: ", "cannot be shared by 3 workers")),
                Arguments.of("batch not shared by the ranks (quickstart)", List.of("quickstart", "--conf",
                        repo("conf/rqvae/quickstart.yaml"), "--data", repo("data/emoji"), "--out", t("q1"), "--workers", "3",
                        "--no-stage2"), List.of("train.batch_size: ", "cannot be shared by 3 workers")),
                Arguments.of("no rank", List.of("train-transformer", "--conf", repo("conf/rqtransformer/tiny.yaml"),
                        "--tokens", t("no-tokens"), "--vae", ck, "--out", t("r10"), "--workers", "0"),
                        List.of("--workers: must be at least 1, got 0")),
                Arguments.of("--init where it cannot apply (train-sid)", List.of("train-sid", "--conf",
                        repo("conf/sid/tiny.yaml"), "--data", t("no-items"), "--out", t("r11"), "--init", ck),
                        List.of("train.init: ", "not supported")),
                Arguments.of("batch not shared by the ranks (sid-quickstart)", List.of("sid-quickstart", "--conf",
                        repo("conf/sid/tiny.yaml"), "--data", t("no-items"), "--out", t("sq1"), "--workers", "3"),
                        List.of("train.batch_size: ", "cannot be shared by 3 workers")),
                // --precision is a training flag: train.precision of the config
                Arguments.of("bf16 where the model has no bf16 path (train-sid)", List.of("train-sid", "--conf",
                        repo("conf/sid/tiny.yaml"), "--data", t("no-items"), "--out", t("r12"), "--precision", "bf16"),
                        List.of("rq train-sid: train.precision: ", "fp32 only", "bf16")),
                Arguments.of("unknown precision (quickstart)", List.of("quickstart", "--conf",
                        repo("conf/rqvae/quickstart.yaml"), "--data", repo("data/emoji"), "--out", t("q2"),
                        "--no-stage2", "--precision", "fp16"), List.of("rq quickstart: ", "--precision", "fp16")),
                Arguments.of("gradient checkpointing (train-vae)", List.of("train-vae", "--conf", tiny, "--data",
                        repo("data/emoji/validation"), "--out", t("r13"), "--set", "model.hparams.checkpointing=true"),
                        List.of("rq train-vae: model.hparams.checkpointing: ", "not implemented")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badInvocations")
    void aUserErrorIsOneLineAndExitCode2(String what, List<String> args, List<String> fragments) {
        Run r = run(null, args.toArray(String[]::new));
        assertThat(r.rc).as(r.err).isEqualTo(Failures.USER_ERROR);
        assertThat(r.err.lines().toList()).as(r.err).hasSize(1);
        assertThat(r.err).startsWith("rq").doesNotContain("\tat ", "Exception:");
        for (String f : fragments) {
            assertThat(r.err).as(what).contains(f);
        }
        // nothing was written where a failed command was told to write
        for (int i = 0; i + 1 < args.size(); i++) {
            if (List.of("--out", "--output").contains(args.get(i)) && !args.get(i + 1).equals(t("not-a-table"))) {
                assertThat(Path.of(args.get(i + 1))).as(what).doesNotExist();
            }
        }
        assertThat(Path.of(t("not-a-table/notes.txt"))).hasContent("keep me");
    }

    @Test
    void aQueryOutputAppearsWholeAndAFailedQueryKeepsThePreviousOne() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("query-out"));
        Path out = dir.resolve("counts.csv");
        Files.writeString(out, "old\n");
        String table = "t=" + repo("data/emoji/validation");
        Run ok = run(null, "query", "--table", table, "--sql", "SELECT count(*) AS n FROM t", "--output", out.toString());
        assertThat(ok.rc).as(ok.err).isZero();
        assertThat(Files.readString(out)).startsWith("n\n").doesNotContain("old");
        Run bad = run(null, "query", "--table", table, "--sql", "SELECT nope FROM t", "--output", out.toString());
        assertThat(bad.rc).as(bad.err).isEqualTo(Failures.USER_ERROR);
        assertThat(Files.readString(out)).startsWith("n\n"); // the previous output stays as it was
        try (Stream<Path> files = Files.list(dir)) { // no temporary file left behind (.crc: the local checksums)
            assertThat(files.map(f -> f.getFileName().toString()).filter(f -> !f.endsWith(".crc")).toList())
                    .containsExactly("counts.csv");
        }
    }

    @Test
    void anOutputHoldingAnotherRunIsAUserErrorAndStaysAsItIs() throws Exception {
        Path other = tmp.resolve("other-run");
        Files.createDirectories(other);
        String runJson = "{\"kind\":\"rqvae\",\"config_hash\":\"" + "0".repeat(64) + "\",\"config\":{}}";
        Files.writeString(other.resolve("run.json"), runJson);
        Run r = run(null, "train-vae", "--conf", repo("conf/rqvae/tiny.yaml"), "--data", repo("data/emoji/validation"),
                "--out", other.toString());
        assertThat(r.rc).as(r.err).isEqualTo(Failures.USER_ERROR);
        assertThat(r.err.lines().toList()).as(r.err).hasSize(1);
        assertThat(r.err).startsWith("rq train-vae: run directory ").contains(other.toString(),
                "holds a rqvae run with a different configuration", "use another --out");
        assertThat(other.resolve("run.json")).hasContent(runJson);
        assertThat(other.resolve("config.yaml")).doesNotExist();
    }

    @Test
    void aDivergingRunStopsAtTheFirstNonFiniteStepWithAUserError() {
        // a learning rate of 1e9 turns the weights into NaN within a few steps
        Run r = run(null, "train-vae", "--conf", repo("conf/rqvae/tiny.yaml"), "--data", repo("data/emoji/validation"),
                "--out", t("diverged"), "--max-steps", "40", "--set", "train.lr=1e9");
        assertThat(r.rc).as(r.err).isEqualTo(Failures.USER_ERROR);
        assertThat(r.err.lines().toList()).as(r.err).hasSize(1);
        assertThat(r.err).startsWith("rq train-vae: training diverged at step ").contains(t("diverged"),
                "none yet", "Lower train.lr").doesNotContain("\tat ", "Exception:");
        // stopped at once (not retried), before any checkpoint of the NaN weights
        assertThat(Path.of(t("diverged/checkpoints"))).doesNotExist();
    }

    @Test
    void aCrashIsOneLineNamingTheLogAndExitCode1AndTheTraceIsLogged() {
        captureTraces();
        int before = TRACES.size();
        Run r = run(new Crash(), "crash");
        assertThat(r.rc).isEqualTo(Failures.CRASH);
        assertThat(r.err.lines().toList()).as(r.err).hasSize(1);
        assertThat(r.err).startsWith("rq crash: internal error: java.lang.IllegalStateException: invariant broken")
                .contains("stack trace in").contains("--verbose");
        List<LogEvent> logged = TRACES.subList(before, TRACES.size());
        assertThat(logged).anySatisfy(e -> {
            assertThat(e.getThrown()).isInstanceOf(IllegalStateException.class);
            assertThat(e.getMessage().getFormattedMessage()).contains("rq crash failed (crash)");
        });
    }

    @Test
    void verbosePrintsTheStackTraceBeforeOrAfterTheSubcommand() {
        for (String[] args : List.of(new String[] {"crash", "--verbose"}, new String[] {"--verbose", "crash"})) {
            Run r = run(new Crash(), args);
            assertThat(r.rc).isEqualTo(Failures.CRASH);
            assertThat(r.err).contains("IllegalStateException: invariant broken").contains("\tat ")
                    .contains(Crash.class.getName());
        }
        Run user = run(null, "--verbose", "tokenize", "--checkpoint", t("no-such-ckpt"), "--data",
                repo("data/emoji/validation"), "--output", t("tok3"));
        assertThat(user.rc).isEqualTo(Failures.USER_ERROR);
        assertThat(user.err.lines().findFirst().orElseThrow()).startsWith("rq tokenize: ")
                .contains(t("no-such-ckpt"));
        assertThat(user.err).contains("\tat ");
    }

    @Test
    void aBadInputFoundInsideASparkTaskIsStillAUserError() {
        Run r = run(new BadRowInTask(), "bad-row");
        assertThat(r.rc).as(r.err).isEqualTo(Failures.USER_ERROR);
        assertThat(r.err.lines().toList()).as(r.err).hasSize(1);
        assertThat(r.err.strip()).isEqualTo("rq bad-row: row 0 of the input is malformed: fix it and rerun");
    }

    @Test
    void aTruncatedWebDatasetShardIngestsTheCompleteSamplesAndAccountsForTheCutOne() throws Exception {
        Path shards = tmp.resolve("wds");
        Files.createDirectories(shards);
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(bos)) {
            for (int i = 0; i < 6; i++) {
                byte[] png = TestImages.encode(TestImages.noise(24, 24, i), "png");
                for (Object[] m : new Object[][] {{"png", png}, {"cls", Integer.toString(i % 2)
                        .getBytes(StandardCharsets.UTF_8)}}) {
                    TarArchiveEntry e = new TarArchiveEntry(String.format("k%02d.%s", i, m[0]));
                    e.setSize(((byte[]) m[1]).length);
                    tar.putArchiveEntry(e);
                    tar.write((byte[]) m[1]);
                    tar.closeArchiveEntry();
                }
            }
        }
        byte[] all = bos.toByteArray();
        // cut inside the image of the 6th sample: its header declares more bytes than follow
        int sixth = indexOf(all, "k05.png".getBytes(StandardCharsets.US_ASCII));
        Files.write(shards.resolve("part-0.tar"), java.util.Arrays.copyOf(all, sixth + 512 + 100));
        PrintStream old = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Run r;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            r = run(null, "ingest", "--input", shards.toString(), "--format", "webdataset", "--output",
                    t("wds-out"), "--workers", "1");
        } finally {
            System.setOut(old);
        }
        String summary = out.toString(StandardCharsets.UTF_8);
        assertThat(r.rc).as(r.err + summary).isEqualTo(0);
        assertThat(summary).contains("read      6").contains("accepted  5").contains("rejected  1")
                .containsPattern("read_error\\s+1");
    }

    private static int indexOf(byte[] a, byte[] b) {
        outer:
        for (int i = 0; i + b.length <= a.length; i++) {
            for (int j = 0; j < b.length; j++) {
                if (a[i + j] != b[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new IllegalArgumentException("not found");
    }

    /** A command that hits a defect. */
    @Command(name = "crash")
    static final class Crash implements Callable<Integer> {
        @Override
        public Integer call() {
            throw new IllegalStateException("invariant broken");
        }
    }

    /** A command whose Spark task finds a bad input row. */
    @Command(name = "bad-row")
    static final class BadRowInTask implements Callable<Integer> {
        @Override
        public Integer call() throws Exception {
            try (SparkSession spark = SparkSessions.getOrCreate("bad-row", 1)) {
                spark.range(1).javaRDD().map(x -> {
                    throw new IllegalArgumentException("row " + x + " of the input is malformed: fix it and rerun");
                }).collect();
            }
            return 0;
        }
    }

    private record Run(int rc, String err) {}

    private static Run run(Object extra, String... args) {
        StringWriter err = new StringWriter();
        CommandLine cl = RqCli.commandLine(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true));
        if (extra != null) {
            cl.addSubcommand(extra);
        }
        int rc = cl.execute(args);
        return new Run(rc, err.toString());
    }
}
