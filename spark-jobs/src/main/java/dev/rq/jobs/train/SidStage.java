package dev.rq.jobs.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.data.items.ItemBatches;
import dev.rq.data.items.ItemPreparation;
import dev.rq.data.items.ItemSample;
import dev.rq.data.items.PreparedItems;
import dev.rq.data.loader.Cursor;
import dev.rq.model.checkpoint.CheckpointDir;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.checkpoint.ModelHashes;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.Configs;
import dev.rq.model.config.SidRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.nn.Tensors;
import dev.rq.model.quantizer.KMeans;
import dev.rq.model.sid.SidCheckpoint;
import dev.rq.model.sid.SidInit;
import dev.rq.model.sid.SidModel;
import dev.rq.model.sid.SidTrainer;
import dev.rq.model.util.Rng;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.SparkSession;

/**
 * The semantic-ID RQ-VAE ({@link SidModel}, the {@code rqvae} method of {@code rq train-sid}) on a
 * prepared item table ({@link PreparedItems}). Each optimizer step consumes {@code grad_accum_steps}
 * accumulation steps of the N-independent windowed-shuffle order ({@link ItemBatches}), of which
 * this rank reads its contiguous slice ({@link SidTrainer} cuts it into micro-batches). The first
 * {@code kmeans.warmup_steps} steps train the autoencoder alone; before the next one every level's
 * codebook is initialised by k-means on the encoder outputs of the deterministic k-means sample
 * ({@link SidInit}, the ranks' sample slices through the ring). The step count alone decides this,
 * so a run resumed before or at that step initialises there too.
 */
public final class SidStage implements TrainingStage {

    private static final long serialVersionUID = 1L;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Row groups shuffled together by the training order. */
    static final int SHUFFLE_WINDOW = 8;

    private final SidRunConfig config;
    private final String itemsUri;

    /**
     * @param config a run config with {@code model.method: rqvae}
     * @param itemsUri the prepared items
     */
    public SidStage(SidRunConfig config, String itemsUri) {
        if (config.model().isKMeans()) {
            throw new IllegalArgumentException("SidStage trains the rqvae method; rq-kmeans is RqKMeansStage");
        }
        this.config = config;
        this.itemsUri = itemsUri;
    }

    /** Folder of the prepared items inside a run directory. */
    public static final String ITEMS = "items";

    /** @return the stage of the config's method on the prepared items of run directory {@code runUri} */
    public static TrainingStage of(SidRunConfig config, String runUri) {
        String items = new org.apache.hadoop.fs.Path(runUri, ITEMS).toString();
        return config.model().isKMeans() ? new RqKMeansStage(config, items) : new SidStage(config, items);
    }

    /**
     * {@code rq train-sid}: claims the run directory, prepares the item table into {@code
     * <run>/items} (or reuses it when resuming), then trains the config's method: the RQ-VAE
     * ({@link SidStage}) or residual k-means ({@link RqKMeansStage}) with {@link TrainingJob}.
     *
     * @param dataUri the item table
     */
    public static TrainingJob.Result train(SparkSession spark, SidRunConfig config, String dataUri,
            TrainingJob.Options options) throws IOException {
        TrainingStage stage = of(config, options.runUri());
        stage.check(options.workers());
        String items = new org.apache.hadoop.fs.Path(options.runUri(), ITEMS).toString();
        RunDirectory run = new RunDirectory(options.runUri(), spark.sparkContext().hadoopConfiguration());
        run.claim(stage.kind(), Configs.hash(stage.config()), stage.config(), stage::resolve); // before writing into it
        ItemPreparation.run(spark, dataUri, config.data(), config.model().inputDim(), items);
        return TrainingJob.run(spark, stage, options);
    }

    @Override
    public String kind() {
        return SidCheckpoint.RQVAE;
    }

    @Override
    public JsonNode config() {
        return Configs.toTree(config);
    }

    @Override
    public JsonNode resolve(JsonNode stored) {
        return Configs.toTree(Configs.bind(stored, SidRunConfig.class, "")); // SidRunConfig.load's binding
    }

    @Override
    public boolean treeAllReduce(int workers) {
        return config.train().treeAllReduce(workers);
    }

    @Override
    public Limits limits() {
        return Limits.of(config.train());
    }

    @Override
    public void check(int workers) {
        config.train().checkWorkers(workers);
        var t = config.train();
        var km = config.kmeans();
        if (km.init() && km.warmupSteps() >= t.maxSteps()) {
            throw new ConfigException("kmeans.warmup_steps", "must be below train.max_steps " + t.maxSteps()
                    + " (the codebooks are initialised after the warm-up), got " + km.warmupSteps());
        }
    }

    @Override
    public void validate(Configuration conf, int workers) throws IOException {
        check(workers);
        var t = config.train();
        PreparedItems items = PreparedItems.open(itemsUri, conf);
        if (items.numRows() == 0) {
            throw new IllegalArgumentException("--data: no valid item to train on (" + items.manifest().read()
                    + " rows read, " + items.manifest().rejected() + " rejected: " + items.manifest().rejectedByReason()
                    + ")");
        }
        if (items.numRows() < t.batchSize()) {
            throw new ConfigException("train.batch_size", "the item table has " + items.numRows()
                    + " valid items, fewer than one global batch of " + t.batchSize());
        }
    }

    @Override
    public Replica open(Collective ring, NDManager manager, Configuration conf, Optional<CheckpointDir> latest)
            throws IOException {
        return new SidReplica(config, itemsUri, ring, manager, conf, latest);
    }

    /** One rank's model, trainer and batches. */
    static final class SidReplica implements Replica {
        private final SidRunConfig config;
        private final SidModel model;
        private final SidTrainer trainer;
        private final ItemBatches batches;
        private final NDManager manager;
        private final String loadedFrom;
        private final int dim;
        private final PreparedItems items;
        private final Collective ring;
        private Cursor cursor = Cursor.start();

        SidReplica(SidRunConfig config, String itemsUri, Collective ring, NDManager manager, Configuration conf,
                Optional<CheckpointDir> latest) throws IOException {
            this.config = config;
            this.manager = manager;
            var train = config.train();
            PreparedItems items = PreparedItems.open(itemsUri, conf);
            this.dim = items.dim();
            if (latest.isPresent()) {
                SidCheckpoint.Loaded l = SidCheckpoint.load(latest.get(), manager);
                if (!(l.coder() instanceof SidModel m)) {
                    l.coder().close();
                    throw new CheckpointException(latest.get().uri() + " is not an RQ-VAE semantic-ID checkpoint");
                }
                model = m;
                trainer = new SidTrainer(model, train, config.kmeans().warmupSteps(), ring);
                JsonNode st = l.checkpoint().trainerState();
                trainer.restore(l.checkpoint().optimizer(), st.get("step").asLong(), st.get("restart_rng").asLong());
                cursor = new Cursor(st.get("cursor").get("epoch").asInt(), st.get("cursor").get("step").asLong());
                loadedFrom = l.checkpoint().manifest().files().get(Checkpoints.MODEL).sha256();
            } else {
                model = SidModel.create(config.model(), manager, train.seed());
                trainer = new SidTrainer(model, train, config.kmeans().warmupSteps(), ring);
                loadedFrom = null;
            }
            this.items = items;
            this.ring = ring;
            batches = ItemBatches.open(items, train.batchSize() / train.gradAccumSteps(), ring.rank(), ring.worldSize(),
                    train.seed(), SHUFFLE_WINDOW, cursor);
        }

        /** k-means initialisation of every level on this rank's slice of the sample (current encoder). */
        private void initialise() throws IOException {
            int maxK = 0;
            for (int d = 0; d < config.model().depth(); d++) {
                maxK = Math.max(maxK, config.model().codebookSize(d));
            }
            long[] sample = ItemSample.indices(items.numRows(), config.kmeans().sampleSizeFor(maxK),
                    config.train().seed());
            long[] mine = ItemSample.slice(sample, ring.rank(), ring.worldSize());
            try (NDManager m = manager.newSubManager()) {
                NDArray x = Tensors.of(m, items.readRows(mine), new Shape(mine.length, items.dim()));
                var t = config.train();
                List<KMeans.Iteration> fits = SidInit.kmeans(model, x, t.batchSize() / t.gradAccumSteps(),
                        config.kmeans().iterations(), Rng.of(t.seed(), 0x6b6d), ring);
                for (int d = 0; d < fits.size(); d++) {
                    TrainingJob.LOG.info("k-means init of level {} at step {}: mean squared residual {} over {} sampled"
                            + " items", d, trainer.step(), fits.get(d).inertia() / sample.length, sample.length);
                }
            }
        }

        @Override
        public long step() {
            return trainer.step();
        }

        @Override
        public String loadedFrom() {
            return loadedFrom;
        }

        @Override
        public ObjectNode trainStep() throws IOException {
            if (config.kmeans().init() && trainer.step() == config.kmeans().warmupSteps()) {
                initialise();
            }
            int micro = config.train().gradAccumSteps();
            List<NDArray> xs = new ArrayList<>(micro);
            try (NDManager stepManager = manager.newSubManager()) {
                for (int m = 0; m < micro; m++) {
                    ItemBatches.ItemBatch b = batches.next();
                    xs.add(Tensors.of(stepManager, b.x(), new Shape(b.indices().length, dim)));
                }
                cursor = batches.cursor();
                return metrics(trainer.step(xs), cursor);
            }
        }

        @Override
        public dev.rq.model.train.StepLoop stepLoop() {
            return trainer.stepLoop();
        }

        @Override
        public String weightsSha() {
            return ModelHashes.tensorsSha256(model.params().tensors());
        }

        @Override
        public void save(CheckpointDir dir, ObjectNode state) throws IOException {
            state.put("restart_rng", trainer.rngState());
            state.putObject("cursor").put("epoch", cursor.epoch()).put("step", cursor.step());
            SidCheckpoint.save(dir, model.stateDict(), config, trainer.step(), trainer.optimizerState(), state);
        }

        @Override
        public void afterCommit(RunDirectory run, long step) {}

        @Override
        public void close() {
            batches.close();
            model.close();
        }

        private static ObjectNode metrics(SidTrainer.Metrics m, Cursor cursor) {
            ObjectNode n = JSON.createObjectNode();
            n.put("epoch", cursor.epoch());
            n.put("lr", m.lr());
            n.put("loss", m.loss());
            n.put("recon_loss", m.recon());
            n.put("codebook_loss", m.codebook());
            n.put("commit_loss", m.commit());
            n.put("grad_norm", m.gradNorm());
            var p = n.putArray("perplexity");
            for (double v : m.perplexity()) {
                p.add(v);
            }
            var u = n.putArray("used_fraction");
            for (double v : m.usedFraction()) {
                u.add(v);
            }
            n.put("dead_fraction", m.deadFraction());
            if (m.warmup()) {
                n.put("warmup", true);
            }
            n.put("images", m.items());
            n.put("step_seconds", m.seconds());
            return n;
        }
    }
}
