package dev.rq.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rq.io.HadoopDir;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.vae.RqVae;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code --spark-conf}, and the options that take any Hadoop URI ({@code --conf}, {@code
 * import-official}, {@code bench --json}), here with {@code file:} URIs; the object-store and HDFS
 * runs are in {@code dev.rq.storage}.
 */
class HadoopUriOptionsTest {

    @TempDir Path tmp;

    @AfterEach
    void clear() {
        List.of("option", "zero", "two").forEach(k -> System.clearProperty("spark.hadoop.rq.test." + k));
    }

    static Path repo(String p) {
        return Path.of(System.getProperty("rq.repo.dir", "..")).resolve(p).toAbsolutePath().normalize();
    }

    record Run(int rc, String err) {}

    static Run run(String... args) {
        StringWriter err = new StringWriter();
        CommandLine cl = RqCli.commandLine(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true));
        return new Run(cl.execute(args), err.toString());
    }

    @Test
    void sparkConfIsRepeatableBeforeOrAfterTheCommandAndRejectsNonSparkKeys() {
        Run bad = run("--spark-conf", "fs.s3a.endpoint=http://127.0.0.1:1", "bench", "--conf", "x.yaml");
        assertThat(bad.rc()).isEqualTo(Failures.USER_ERROR);
        assertThat(bad.err().lines().findFirst().orElseThrow()).contains("--spark-conf")
                .contains("spark.hadoop.fs.s3a.endpoint");
        Run missing = run("--spark-conf", "spark.hadoop.rq.test.zero=0", "train-vae", "--spark-conf",
                "spark.hadoop.rq.test.option=1", "--spark-conf", "spark.hadoop.rq.test.two=2", "--conf",
                tmp.resolve("missing.yaml").toUri().toString(), "--data", "d", "--out", tmp.resolve("o").toString());
        assertThat(missing.rc()).isEqualTo(Failures.USER_ERROR);
        assertThat(missing.err()).startsWith("rq train-vae: --conf: file:").contains("missing.yaml does not exist");
        assertThat(System.getProperty("spark.hadoop.rq.test.zero")).isEqualTo("0");
        assertThat(System.getProperty("spark.hadoop.rq.test.option")).isEqualTo("1");
        assertThat(System.getProperty("spark.hadoop.rq.test.two")).isEqualTo("2");
        assertThat(tmp.resolve("o")).doesNotExist();
    }

    @Test
    void importOfficialAndBenchTakeUris() throws Exception {
        RqVaeRunConfig tiny = Configs.loadRqVae(repo("conf/rqvae/tiny.yaml"), List.of());
        Path weights = tmp.resolve("in/model.safetensors");
        Files.createDirectories(weights.getParent());
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(tiny.model(), m, 3);
                OutputStream out = Files.newOutputStream(weights)) {
            SafeTensors.write(vae.stateDict(), Map.of(), out);
        }
        String ckpt = tmp.resolve("out/ckpt").toUri().toString();
        Run imp = run("import-official", "--config", repo("conf/rqvae/tiny.yaml").toUri().toString(), "--weights",
                weights.toUri().toString(), "--out", ckpt);
        assertThat(imp.rc()).as(imp.err()).isZero();
        assertThat(Checkpoints.read(new HadoopDir(ckpt, new Configuration())).manifest().kind()).isEqualTo("rqvae");

        String json = tmp.resolve("reports/bench.json").toUri().toString();
        Run bench = run("bench", "--conf", repo("conf/rqvae/tiny.yaml").toUri().toString(), "--json", json,
                "--threads", "1", "--batch", "2", "--warmup", "0", "--max-warmup-seconds", "0", "--iters", "1", "--min-seconds", "0");
        assertThat(bench.rc()).as(bench.err()).isZero();
        assertThat(new ObjectMapper().readTree(tmp.resolve("reports/bench.json").toFile()).path("config_file").asText())
                .isEqualTo(repo("conf/rqvae/tiny.yaml").toUri().toString());
    }
}
