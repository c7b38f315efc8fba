package dev.rq.pipelines.quickstart;

import com.fasterxml.jackson.databind.JsonNode;
import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.jobs.tokenize.TokenizeJob;
import dev.rq.jobs.train.RunDirectory;
import dev.rq.jobs.train.TrainingJob;
import dev.rq.jobs.train.VaeStage;
import dev.rq.model.config.ConfigException;
import dev.rq.tables.TokenManifest;
import dev.rq.tables.Variant;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.hadoop.fs.Path;

/**
 * The stage-1 stages up to the token table: <b>ingest</b> (open and check every split, print the
 * images per class and split), <b>train</b> (the RQ-VAE, resumed or skipped by the training job) and
 * <b>tokenize</b> (every split with the final checkpoint; skipped when the table's manifest matches).
 * Each stage returns its {@link Outcome}: the {@link Splits}, the trained RQ-VAE ({@link Trained})
 * and the token table's {@link TokenManifest}.
 */
final class Stage1Stages {

    private final StageContext c;

    Stage1Stages(StageContext c) {
        this.c = c;
    }

    // ---------------------------------------------------------------- ingest check

    Outcome<Splits> ingest() throws IOException {
        Map<String, CanonicalDataset> datasets = new LinkedHashMap<>();
        for (String split : c.o.splits()) {
            String uri = new Path(c.o.data(), split).toString();
            CanonicalDataset ds;
            try {
                ds = CanonicalDataset.open(uri, c.conf);
            } catch (FileNotFoundException e) {
                throw new FileNotFoundException("dataset split '" + split + "' is missing or incomplete at " + uri
                        + " (" + e.getMessage() + "). The emoji dataset is committed under data/emoji: run from the"
                        + " repository root, pass --data, or restore it with `git checkout -- data/emoji`.");
            }
            if (ds.numRows() == 0) {
                throw new IllegalArgumentException("dataset split " + uri + " has no images");
            }
            datasets.put(split, ds);
        }
        Splits splits = new Splits(datasets);
        List<String> names = splits.classNames();
        for (var e : datasets.entrySet()) {
            if (!e.getValue().classNames().equals(names)) {
                throw new IllegalArgumentException("splits disagree on class names: " + c.o.splits().get(0) + " " + names + " vs "
                        + e.getKey() + " " + e.getValue().classNames());
            }
        }
        c.console.print(countsTable(splits));
        if (c.o.stage2() != null) {
            int cond = c.o.stage2().config().model().vocabSizeCond();
            if (cond < names.size()) {
                throw new ConfigException("model.vocab_size_cond", "the stage-2 config conditions on " + cond
                        + " classes, but the dataset has " + names.size() + " " + names);
            }
        }
        return Outcome.ran(splits, splits.images() + " images in " + datasets.size() + " splits, " + names.size()
                + " classes");
    }

    /** Images per class (rows) and split (columns), as aligned text. */
    private static String countsTable(Splits splits) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "   %-18s", "class"));
        splits.datasets().keySet().forEach(s -> sb.append(String.format(Locale.ROOT, " %10s", s)));
        sb.append('\n');
        for (List<Object> row : splits.countRows()) {
            sb.append(String.format(Locale.ROOT, "   %-18s", row.get(0)));
            for (int i = 1; i < row.size(); i++) {
                sb.append(String.format(Locale.ROOT, " %10s", row.get(i)));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    // ---------------------------------------------------------------- train

    Outcome<Trained> train(Splits splits) throws IOException {
        String split = c.o.splits().get(0);
        RunDirectory run = new RunDirectory(c.trainUri, c.conf);
        List<Long> before = run.fs().exists(run.path("run.json")) ? run.committedSteps() : List.of();
        VaeStage stage = new VaeStage(c.o.config(), splits.get(split).splitDir().toString());
        TrainingJob.Result r = TrainingJob.run(c.spark, stage, new TrainingJob.Options(c.trainUri, c.o.workers(),
                c.o.collectiveTimeout(), c.o.driverRetries(), null));
        Trained trained = c.trained(c.trainUri, r.finalCheckpoint(), r.steps());
        long max = c.o.config().train().maxSteps();
        if (r.submissions() == 0) {
            return Outcome.skipped(trained, "already trained to step " + r.steps() + " (" + r.finalCheckpoint() + ")");
        }
        String note = r.steps() + " steps on " + split + " with " + c.o.workers() + " ranks (global batch "
                + c.o.config().train().batchSize() + ")" + lastMetrics();
        if (!before.isEmpty()) {
            return Outcome.resumed(trained, "from step " + before.get(before.size() - 1) + " of " + max + ": " + note);
        }
        return Outcome.ran(trained, note);
    }

    private String lastMetrics() {
        JsonNode m = c.lastMetrics(c.trainUri);
        if (m == null) {
            return "";
        }
        return String.format(Locale.ROOT, "; last logged loss %.5f (recon %.5f)", m.path("loss").asDouble(),
                m.path("recon_loss").asDouble());
    }

    // ---------------------------------------------------------------- tokenize

    Outcome<TokenManifest> tokenize(Splits splits, Trained vae) throws IOException {
        String dataRoot = qualify(c.o.data());
        boolean latents = needsLatents();
        try {
            TokenManifest m = TokenManifest.read(c.tokensUri, c.conf);
            boolean same = vae.modelSha256().equals(m.tokenizer().checkpointSha256())
                    && (!latents || m.hasLatents())
                    && m.splits().keySet().equals(new java.util.HashSet<>(c.o.splits()))
                    && m.source() != null && dataRoot.equals(m.source().uri());
            for (var e : splits.datasets().entrySet()) {
                TokenManifest.SplitCounts counts = m.splits().get(e.getKey());
                same &= counts != null && counts.images() == e.getValue().numRows();
            }
            if (same) {
                return Outcome.skipped(m, c.tokensUri + " was already made by this checkpoint (created "
                        + m.createdAt() + ")");
            }
            c.console.println("   existing token table is from another checkpoint or dataset, or lacks the latents"
                    + " stage 2 needs: replacing it");
        } catch (FileNotFoundException e) {
            // no table yet
        }
        TokenizeJob.Options t = new TokenizeJob.Options(vae.finalCheckpoint(), c.o.data(), c.tokensUri,
                List.of(Variant.CENTER), QuickstartJob.TOKENIZE_BATCH, c.o.splits(), latents, 0, 0,
                c.o.config().train().computePrecision());
        TokenizeJob.Result r = TokenizeJob.run(c.spark, t);
        TokenManifest m = r.manifest();
        c.console.print(r.summary());
        long rows = m.splits().values().stream().mapToLong(TokenManifest.SplitCounts::rows).sum();
        return Outcome.ran(m, String.format(Locale.ROOT, "%d rows%s, %.1f img/s", rows,
                latents ? " with latents" : "", m.job().imagesPerSecond()));
    }

    /** Stage 2 with soft targets computes them from the pre-quantization latents, stored in the table. */
    private boolean needsLatents() {
        return c.o.stage2() != null && c.o.stage2().config().loss().soft();
    }

    private String qualify(String uri) throws IOException {
        Path p = new Path(uri);
        return p.getFileSystem(c.conf).makeQualified(p).toString();
    }
}
