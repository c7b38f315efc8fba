package dev.rq.pipelines.quickstart;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.io.HadoopDir;
import dev.rq.jobs.sample.SampleJob;
import dev.rq.tables.SampleLayout;
import dev.rq.jobs.train.RunDirectory;
import dev.rq.jobs.train.TrainingJob;
import dev.rq.jobs.train.TransformerStage;
import dev.rq.model.config.Configs;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.report.ImageGrid;
import dev.rq.tables.TokenTableSchema;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.hadoop.fs.Path;

/**
 * The stage-2 stages: <b>train-transformer</b> ({@link TrainingJob} of a {@link TransformerStage} on
 * the token table with the final RQ-VAE checkpoint; resumed or skipped like stage-1 training, a
 * finished run of a moved output folder is used as it is) and <b>sample</b> ({@link SampleJob} of
 * every dataset class, then {@code eval/samples.png}; skipped when the sample manifest names the
 * same checkpoints and settings). Each stage returns its {@link Outcome}: the trained
 * RQ-Transformer ({@link Trained}) and the {@link QuickstartJob.Stage2Result}.
 */
final class Stage2Stages {

    private final StageContext c;

    Stage2Stages(StageContext c) {
        this.c = c;
    }

    // ---------------------------------------------------------------- train-transformer

    Outcome<Trained> trainTransformer(Trained vae) throws IOException {
        TransformerRunConfig cfg = stage2Config(vae);
        String split = c.o.splits().get(0);
        RunDirectory run = new RunDirectory(c.stage2Uri, c.conf);
        List<Long> before = run.fs().exists(run.path("run.json")) ? run.committedSteps() : List.of();
        TrainingJob.Result r = finishedElsewhere(run, cfg, vae);
        if (r == null) {
            TransformerStage st = new TransformerStage(cfg, c.tokensUri, split, c.o.evalSplit());
            r = TrainingJob.run(c.spark, st, new TrainingJob.Options(c.stage2Uri, c.o.workers(),
                    c.o.collectiveTimeout(), c.o.driverRetries(), null));
        }
        Trained trained = c.trained(c.stage2Uri, r.finalCheckpoint(), r.steps());
        String held = "";
        JsonNode h = c.lastLine(c.stage2Uri, QuickstartJob.HELD_OUT);
        if (h != null) {
            BitsPerCode bits = BitsPerCode.of(h.path("bits_per_code"));
            held = String.format(Locale.ROOT, "; held-out bits/code at step %d: %.3f (per depth %s)",
                    h.path("step").asLong(), bits.mean(), bits.perDepthText());
        }
        if (r.submissions() == 0) {
            return Outcome.skipped(trained, "already trained to step " + r.steps() + " (" + r.finalCheckpoint() + ")"
                    + held);
        }
        String note = r.steps() + " steps on " + split + " (" + cfg.loss().type() + ") with " + c.o.workers()
                + " ranks (global batch " + cfg.train().batchSize() + ")" + held;
        if (!before.isEmpty()) {
            return Outcome.resumed(trained, "from step " + before.get(before.size() - 1) + " of "
                    + cfg.train().maxSteps() + ": " + note);
        }
        return Outcome.ran(trained, note);
    }

    /** The stage-2 config with {@code vae.checkpoint} = the stage-1 final checkpoint. */
    private TransformerRunConfig stage2Config(Trained vae) {
        ObjectNode tree = (ObjectNode) Configs.toTree(c.o.stage2().config()).deepCopy();
        JsonNode source = tree.get("vae");
        ObjectNode v = source instanceof ObjectNode on ? on : tree.putObject("vae");
        v.put("checkpoint", vae.finalCheckpoint());
        return TransformerRunConfig.bind(tree);
    }

    /**
     * A finished stage-2 run of an output folder that was moved: its config names the stage-1
     * checkpoint at the old place ({@code <old out>/train/checkpoints/step-N}) and is otherwise
     * equal to this one. Such a run is not trained again (the training job would refuse it as a
     * different configuration); an unfinished one is left to the training job, which refuses it.
     *
     * @return the finished run, or null
     */
    private TrainingJob.Result finishedElsewhere(RunDirectory run, TransformerRunConfig cfg, Trained vae)
            throws IOException {
        if (!run.fs().exists(run.path("run.json"))) {
            return null;
        }
        JsonNode existing;
        try (InputStream in = run.fs().open(run.path("run.json"))) {
            existing = StageContext.JSON.readTree(in);
        }
        JsonNode old = existing.path("config").deepCopy();
        String oldVae = old.path("vae").path("checkpoint").asText("");
        String finalCheckpoint = vae.finalCheckpoint();
        String tail = "/" + QuickstartJob.TRAIN + "/" + new Path(finalCheckpoint).getParent().getName() + "/"
                + new Path(finalCheckpoint).getName();
        if (!(old.path("vae") instanceof ObjectNode ov) || oldVae.equals(finalCheckpoint) || !oldVae.endsWith(tail)) {
            return null;
        }
        ov.put("checkpoint", finalCheckpoint);
        String oldCanonical;
        try {
            oldCanonical = Configs.toCanonicalJson(TransformerRunConfig.bind(old));
        } catch (RuntimeException e) {
            return null;
        }
        List<Long> steps = run.committedSteps();
        if (!oldCanonical.equals(Configs.toCanonicalJson(cfg)) || steps.isEmpty()
                || steps.get(steps.size() - 1) < cfg.train().maxSteps()) {
            return null;
        }
        long last = steps.get(steps.size() - 1);
        c.console.println("   the stage-2 run was trained when this folder was at " + oldVae.substring(0,
                oldVae.length() - tail.length()) + "; it is complete and is used as it is");
        return new TrainingJob.Result(c.stage2Uri, run.checkpoint(last).uri(), last, null, 0);
    }

    // ---------------------------------------------------------------- sample

    Outcome<QuickstartJob.Stage2Result> sample(Splits splits, Trained vae, Trained transformer) throws IOException {
        QuickstartJob.Stage2 s2 = c.o.stage2();
        List<Integer> classes = new ArrayList<>();
        for (int k = 0; k < splits.classNames().size(); k++) {
            classes.add(k);
        }
        String classList = String.join(",", classes.stream().map(String::valueOf).toList());
        List<String> grids = classes.stream().map(SampleLayout::gridPath)
                .toList();
        JsonNode done = samplesManifest();
        List<Integer> doneClasses = new ArrayList<>();
        if (done != null) {
            done.path("sampling").path("classes").forEach(v -> doneClasses.add(v.asInt()));
        }
        if (done != null && transformer.modelSha256().equals(done.path("generator").path("checkpoint_sha256").asText())
                && vae.modelSha256().equals(done.path("tokenizer").path("checkpoint_sha256").asText())
                && done.path("sampling").path("seed").asLong() == s2.seed()
                && done.path("sampling").path("per_class").asInt() == s2.perClass()
                && classes.equals(doneClasses)
                && sameSampling(done.path("sampling"), s2.config().sampling())) {
            writeSampleOverview(splits, classes, s2.perClass());
            return Outcome.skipped(stage2Result(transformer, grids), c.samplesUri + " was already sampled from this"
                    + " checkpoint (" + classes.size() + " classes x " + s2.perClass() + ", seed " + s2.seed() + ")");
        }
        // one libtorch thread per task on a local master: the tasks run side by side on its cores
        int threads = c.spark.sparkContext().isLocal() ? 1 : 0;
        SampleJob.Result r = SampleJob.run(c.spark, new SampleJob.Options(transformer.finalCheckpoint(),
                vae.finalCheckpoint(), classList, s2.perClass(), c.samplesUri, null, null, null, s2.seed(), null,
                threads, s2.config().train().computePrecision()));
        c.console.print(r.summary());
        writeSampleOverview(splits, classes, s2.perClass());
        var sm = r.sampling();
        return Outcome.ran(stage2Result(transformer, grids), String.format(Locale.ROOT, "%d images (%d classes x %d,"
                + " seed %d; temperature %s, top-k %s, top-p %s, guidance scale %s), %.2f img/s",
                classes.size() * s2.perClass(), classes.size(), s2.perClass(), s2.seed(), sm.temperature(),
                sm.topK() == null ? "none" : sm.topK(), sm.topP() == null ? "none" : sm.topP(),
                sm.guided() ? sm.cfgScale() : "1 (none)", r.manifest().job().imagesPerSecond()));
    }

    /** @return whether a sample manifest's settings are the config's (temperature, top-k, top-p, guidance) */
    private static boolean sameSampling(JsonNode done, dev.rq.model.config.SamplingConfig want) {
        return done.path("temperature").asDouble() == want.temperature()
                && done.path("cfg_scale").asDouble(1.0) == want.cfgScale()
                && done.path("top_k").equals(want.topK() == null ? StageContext.JSON.nullNode()
                        : StageContext.JSON.valueToTree(want.topK()))
                && done.path("top_p").equals(want.topP() == null ? StageContext.JSON.nullNode()
                        : StageContext.JSON.valueToTree(want.topP()));
    }

    /** @return the manifest JSON of an existing sample output, or null */
    private JsonNode samplesManifest() {
        try {
            HadoopDir codes = new HadoopDir(new Path(c.samplesUri, SampleLayout.CODES_DIR), c.conf);
            if (!codes.exists(TokenTableSchema.MANIFEST_FILE)) {
                return null;
            }
            try (InputStream in = codes.open(TokenTableSchema.MANIFEST_FILE)) {
                return StageContext.JSON.readTree(in);
            }
        } catch (IOException e) {
            return null;
        }
    }

    private QuickstartJob.Stage2Result stage2Result(Trained transformer, List<String> grids) {
        JsonNode h = c.lastLine(c.stage2Uri, QuickstartJob.HELD_OUT);
        return new QuickstartJob.Stage2Result(transformer.steps(), transformer.finalCheckpoint(),
                h == null ? -1 : h.path("step").asLong(),
                h == null ? new double[0] : BitsPerCode.of(h.path("bits_per_code")).perDepth(), c.samplesUri, grids);
    }

    /**
     * {@code eval/samples.png}: one row per class (its name on the left) of its first {@link
     * QuickstartJob#SAMPLE_COLUMNS} samples, read from {@code samples/images/class-<c>/<i>.png}.
     */
    private void writeSampleOverview(Splits splits, List<Integer> classes, int perClass) throws IOException {
        List<List<BufferedImage>> rows = new ArrayList<>();
        Path images = new Path(c.samplesUri, SampleLayout.IMAGES_DIR);
        for (int k : classes) {
            List<BufferedImage> row = new ArrayList<>();
            HadoopDir dir = new HadoopDir(new Path(images, SampleLayout.classDir(k)), c.conf);
            for (int i = 0; i < Math.min(perClass, QuickstartJob.SAMPLE_COLUMNS); i++) {
                try (InputStream in = dir.open(SampleLayout.imageName(i))) {
                    BufferedImage img = javax.imageio.ImageIO.read(in);
                    if (img == null) {
                        throw new IOException("cannot read sample " + SampleLayout.imagePath(k, i));
                    }
                    row.add(img);
                }
            }
            rows.add(row);
        }
        List<String> names = splits.classNames();
        List<String> labels = classes.stream().map(k -> k + " " + (k < names.size() ? names.get(k) : "")).toList();
        try (OutputStream os = c.evalDir.create(QuickstartJob.SAMPLE_OVERVIEW)) {
            ImageGrid.writePng(labelledRows(rows, labels), os);
        }
    }

    /** @return the images of each row side by side, rows stacked, each row's label on its left, scaled to ≥ 64 px */
    private static BufferedImage labelledRows(List<List<BufferedImage>> rows, List<String> labels) {
        int cell = 0;
        int cols = 0;
        for (List<BufferedImage> r : rows) {
            cols = Math.max(cols, r.size());
            for (BufferedImage b : r) {
                cell = Math.max(cell, Math.max(b.getWidth(), b.getHeight()));
            }
        }
        int f = Math.max(1, 64 / Math.max(cell, 1));
        int size = cell * f;
        int pad = 2;
        int labelWidth = 150;
        int w = labelWidth + cols * (size + pad) + pad;
        int h = rows.size() * (size + pad) + pad;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setColor(java.awt.Color.WHITE);
            g.fillRect(0, 0, w, h);
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_NEAREST_NEIGHBOR);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.PLAIN, 12));
            for (int r = 0; r < rows.size(); r++) {
                int y = pad + r * (size + pad);
                g.setColor(java.awt.Color.BLACK);
                g.drawString(labels.get(r), 4, y + size / 2 + 5);
                for (int col = 0; col < rows.get(r).size(); col++) {
                    g.drawImage(rows.get(r).get(col), labelWidth + pad + col * (size + pad), y, size, size, null);
                }
            }
        } finally {
            g.dispose();
        }
        return img;
    }
}
