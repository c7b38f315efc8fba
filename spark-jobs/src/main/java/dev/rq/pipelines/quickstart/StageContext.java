package dev.rq.pipelines.quickstart;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.rq.io.HadoopDir;
import dev.rq.jobs.train.RunDirectory;
import dev.rq.model.checkpoint.Checkpoints;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

/**
 * What the stages of one quickstart invocation share, all of it fixed when the invocation starts:
 * the session, the options, the console, the output folder and its sub-folders, and the stage
 * timer ({@code quickstart.json}). Results pass from stage to stage as the typed results of their
 * {@link Outcome}s, never through this context.
 */
final class StageContext {

    /** Pretty-printing mapper of {@code eval.json}, the manifests read back and the report's JSON. */
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    final SparkSession spark;
    final QuickstartJob.Options o;
    final PrintStream console;
    final Configuration conf;
    /** The output folder (qualified) and its parts. */
    final HadoopDir out;
    final String trainUri;
    final String tokensUri;
    final String decodeUri;
    final HadoopDir evalDir;
    final String stage2Uri;
    final String samplesUri;
    /** Stage outcomes and summaries, kept in {@code <out>/quickstart.json}. */
    final StageTimer timer;

    private StageContext(SparkSession spark, QuickstartJob.Options o, PrintStream console, HadoopDir out,
            StageTimer timer) throws IOException {
        this.spark = spark;
        this.o = o;
        this.console = console;
        this.conf = out.conf();
        this.out = out;
        Path root = out.path();
        this.trainUri = new Path(root, QuickstartJob.TRAIN).toString();
        this.tokensUri = new Path(root, QuickstartJob.TOKENS).toString();
        this.decodeUri = new Path(root, QuickstartJob.DECODE).toString();
        this.evalDir = out.child(QuickstartJob.EVAL);
        this.stage2Uri = new Path(root, QuickstartJob.STAGE2).toString();
        this.samplesUri = new Path(root, QuickstartJob.SAMPLES).toString();
        this.timer = timer;
    }

    /** Qualifies and creates the output folder and loads its {@code quickstart.json}. */
    static StageContext open(SparkSession spark, QuickstartJob.Options o, PrintStream console) throws IOException {
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        Path root = new Path(o.out());
        FileSystem fs = root.getFileSystem(conf);
        HadoopDir out = new HadoopDir(fs.makeQualified(root), conf);
        out.fileSystem().mkdirs(out.path());
        return new StageContext(spark, o, console, out, StageTimer.open(out));
    }

    /** @return the result of a training run that ended with {@code finalCheckpoint} after {@code steps} steps */
    Trained trained(String runUri, String finalCheckpoint, long steps) throws IOException {
        return new Trained(runUri, finalCheckpoint, steps, modelSha256(finalCheckpoint));
    }

    /** @return the SHA-256 of a checkpoint's {@code model.safetensors} */
    String modelSha256(String checkpointUri) throws IOException {
        return Checkpoints.read(new HadoopDir(checkpointUri, conf)).manifest().files().get(Checkpoints.MODEL).sha256();
    }

    /** @return the last JSON line of a run file, or null */
    JsonNode lastLine(String runUri, String file) {
        try {
            List<String> lines = new RunDirectory(runUri, conf).readLines(file);
            return lines.isEmpty() ? null : JSON.readTree(lines.get(lines.size() - 1));
        } catch (IOException e) {
            return null;
        }
    }

    /** @return the last logged step record of a training run, or null */
    JsonNode lastMetrics(String runUri) {
        try {
            List<String> lines = new RunDirectory(runUri, conf).metricsLines();
            return lines.isEmpty() ? null : JSON.readTree(lines.get(lines.size() - 1));
        } catch (IOException e) {
            return null;
        }
    }

    /** @return every logged step record of a training run, in step order (empty if none) */
    List<JsonNode> metrics(String runUri) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String l : new RunDirectory(runUri, conf).metricsLines()) {
            out.add(JSON.readTree(l));
        }
        return out;
    }

    /** @return every JSON line of a run file (empty if none) */
    List<JsonNode> lines(String runUri, String file) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String l : new RunDirectory(runUri, conf).readLines(file)) {
            out.add(JSON.readTree(l));
        }
        return out;
    }
}
