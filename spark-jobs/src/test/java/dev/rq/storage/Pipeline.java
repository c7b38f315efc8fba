package dev.rq.storage;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rq.data.TestImages;
import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.dataset.DatasetInfo;
import dev.rq.jobs.train.RunDirectory;
import dev.rq.tables.TokenManifest;
import dev.rq.tables.TokenTableSchema;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.RemoteIterator;

/**
 * The rq pipeline end to end through the command line, every URI under one base on a real remote
 * file system (S3 API or HDFS): ingest an ImageFolder → {@code train-vae} with checkpoints (config
 * read from the same store) → {@code tokenize} → {@code decode}. The store's settings travel as
 * {@code --spark-conf spark.hadoop.*=…}, as a user passes them to {@code bin/rq}.
 */
final class Pipeline {

    static final int CLASSES = 2;
    static final int PER_CLASS = 12;
    static final long STEPS = 4;

    private final String base;
    private final Configuration conf;
    private final List<String> sparkConf = new ArrayList<>();

    /**
     * @param base URI every input and output lives under ({@code s3a://bucket/p}, {@code hdfs://host:port/p})
     * @param hadoop the store's Hadoop settings
     */
    Pipeline(String base, Map<String, String> hadoop) {
        this.base = base;
        this.conf = new Configuration();
        hadoop.forEach((k, v) -> {
            conf.set(k, v);
            sparkConf.add("--spark-conf");
            sparkConf.add("spark.hadoop." + k + "=" + v);
        });
    }

    String uri(String path) {
        return base + "/" + path;
    }

    FileSystem fs() throws IOException {
        return new org.apache.hadoop.fs.Path(base).getFileSystem(conf);
    }

    /** Writes a local file to {@code path} under the base. */
    void upload(Path local, String path) throws IOException {
        try (OutputStream o = fs().create(new org.apache.hadoop.fs.Path(uri(path)), true)) {
            Files.copy(local, o);
        }
    }

    /** An ImageFolder of {@link #CLASSES} × {@link #PER_CLASS} PNGs under {@code raw/} and the tiny config under {@code conf/}. */
    void prepareInputs(Path repo) throws IOException {
        for (int c = 0; c < CLASSES; c++) {
            for (int i = 0; i < PER_CLASS; i++) {
                byte[] png = TestImages.encode(c == 0 ? TestImages.noise(24, 20, i) : TestImages.gradient(20, 24, i),
                        "png");
                try (OutputStream o = fs().create(new org.apache.hadoop.fs.Path(uri("raw/class" + c + "/" + i + ".png")),
                        true)) {
                    o.write(png);
                }
            }
        }
        upload(repo.resolve("conf/rqvae/tiny.yaml"), "conf/tiny.yaml");
    }

    /** Runs {@code rq <args> --spark-conf …} in this JVM; @return the exit code (stderr in the assertion message) */
    int rq(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(sparkConf);
        StringWriter err = new StringWriter();
        int rc = dev.rq.cli.RqCliAccess.execute(new PrintWriter(err, true), all.toArray(String[]::new));
        assertThat(rc).as("rq %s%n%s", String.join(" ", args), err).isZero();
        return rc;
    }

    /** Every step of the pipeline, with its checks. */
    void run() throws IOException {
        rq("ingest", "--input", uri("raw"), "--format", "imagefolder", "--output", uri("data"), "--split", "train",
                "--shards", "2", "--workers", "2");
        CanonicalDataset ds = CanonicalDataset.open(uri("data/train"), conf);
        assertThat(ds.numRows()).isEqualTo((long) CLASSES * PER_CLASS);
        assertThat(ds.info().shards()).hasSize(2);

        rq("train-vae", "--conf", uri("conf/tiny.yaml"), "--data", uri("data/train"), "--out", uri("runs/vae"),
                "--workers", "2", "--max-steps", Long.toString(STEPS), "--checkpoint-every", "2", "--set",
                "train.batch_size=8", "--set", "data.decode_threads=1", "--set", "train.log_every=1");
        RunDirectory run = new RunDirectory(uri("runs/vae"), conf);
        assertThat(run.completeSteps()).containsExactly(4L, 2L);
        run.verify(4);
        run.verify(2);
        assertThat(run.metricsLines()).hasSize((int) STEPS);
        assertThat(fs().exists(run.path("config.yaml"))).isTrue();
        assertThat(fs().exists(run.path("report.html"))).isTrue();
        String ckpt = uri("runs/vae/checkpoints/" + "step-0000000" + STEPS);

        rq("tokenize", "--checkpoint", ckpt, "--data", uri("data"), "--output", uri("tokens"), "--workers", "2",
                "--batch-size", "8");
        TokenManifest m = TokenManifest.read(uri("tokens"), conf);
        assertThat(m.splits().get("train").rows()).isEqualTo((long) CLASSES * PER_CLASS);
        assertThat(m.files()).isNotEmpty();
        for (TokenManifest.DataFile f : m.files()) {
            assertThat(fs().getFileStatus(new org.apache.hadoop.fs.Path(uri("tokens/" + f.path()))).getLen())
                    .isEqualTo(f.bytes());
        }

        rq("decode", "--checkpoint", ckpt, "--tokens", uri("tokens"), "--output", uri("decoded"), "--limit", "8");
        String marker;
        try (var in = fs().open(new org.apache.hadoop.fs.Path(uri("decoded/_SUCCESS")))) {
            marker = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        assertThat(marker).contains("\"rows\" : 8");
        assertThat(files("decoded").stream().filter(n -> n.endsWith(".png")).count()).isEqualTo(9); // 8 + grid

        // nothing of a finished pipeline is a temporary or staging leftover
        assertThat(files("")).noneMatch(n -> n.contains(".tmp") || n.contains("_temporary"));
        DatasetInfo info = ds.info();
        assertThat(info.shards()).allSatisfy(s -> assertThat(files("data/train")).contains("/" + s.file()));
        assertThat(files("tokens")).contains("/" + TokenTableSchema.MANIFEST_FILE);
    }

    /** @return every file below {@code path} (relative to the base) */
    List<String> files(String path) throws IOException {
        List<String> out = new ArrayList<>();
        org.apache.hadoop.fs.Path root = fs().makeQualified(new org.apache.hadoop.fs.Path(path.isEmpty() ? base
                : uri(path)));
        RemoteIterator<LocatedFileStatus> it = fs().listFiles(root, true);
        String prefix = root.toUri().getPath();
        while (it.hasNext()) {
            String p = it.next().getPath().toUri().getPath();
            out.add(p.startsWith(prefix) ? p.substring(prefix.length()) : p);
        }
        return out;
    }
}
