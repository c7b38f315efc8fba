package dev.rq.jobs.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.data.image.ImageTransform;
import dev.rq.data.loader.Batch;
import dev.rq.data.loader.BatchLoader;
import dev.rq.data.loader.Cursor;
import dev.rq.data.loader.ImageBlocks;
import dev.rq.data.loader.LoaderConfig;
import dev.rq.model.checkpoint.ModelHashes;
import dev.rq.model.checkpoint.CheckpointDir;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.Configs;
import dev.rq.model.config.GanConfig;
import dev.rq.model.loss.Lpips;
import dev.rq.model.loss.PatchDiscriminator;
import dev.rq.io.PretrainedWeights;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.nn.Tensors;
import dev.rq.model.train.VaeStepMetrics;
import dev.rq.model.train.VaeTrainer;
import dev.rq.model.vae.RqVae;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.report.ImageGrid;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;

/**
 * Stage 1: the RQ-VAE on images of a canonical dataset split. Each optimizer step consumes {@code
 * grad_accum_steps} global batches of {@code batch_size / grad_accum_steps} images from the
 * N-independent {@link BatchLoader} order ({@code data.partitions}, {@code data.shuffle_window});
 * this rank reads only its partitions, within {@code data.cache_mb}.
 */
public final class VaeStage implements TrainingStage {

    private static final long serialVersionUID = 1L;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final RqVaeRunConfig config;
    private final String dataUri;

    /**
     * @param config the validated run config (model, train, data)
     * @param dataUri dataset split URI (e.g. {@code data/emoji/train})
     */
    public VaeStage(RqVaeRunConfig config, String dataUri) {
        this.config = config;
        this.dataUri = dataUri;
    }

    @Override
    public String kind() {
        return VaeCheckpoint.KIND;
    }

    @Override
    public JsonNode config() {
        return Configs.toTree(config);
    }

    @Override
    public JsonNode resolve(JsonNode stored) {
        return Configs.toTree(Configs.bind(stored, RqVaeRunConfig.class, "")); // Configs.loadRqVae's binding
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
        config.model().hparams().checkTrainable();
        config.train().checkWorkers(workers);
        config.data().checkWorkers(loaderConfig(config).batch(), workers);
        if (config.gan() != null) {
            config.gan().loss().checkTrainable();
        }
    }

    @Override
    public void validate(Configuration conf, int workers) throws IOException {
        check(workers);
        var t = config.train();
        LoaderConfig loader = loaderConfig(config);
        CanonicalDataset ds = CanonicalDataset.open(dataUri, conf);
        if (ds.numRows() == 0) {
            throw new IllegalArgumentException("--data: dataset split " + dataUri + " is empty (0 images): nothing to"
                    + " train on; ingest images into it first");
        }
        int micro = t.batchSize() / t.gradAccumSteps();
        if (ds.numRows() < micro) {
            throw new ConfigException("train.batch_size", "dataset " + dataUri + " has " + ds.numRows()
                    + " images, fewer than one micro-batch of " + micro);
        }
        if (t.init() != null) {
            InitWeights.validate(t.init(), kind(), conf, h -> RqVae.checkState(config.model(), h));
        }
        if (config.gan() != null && config.gan().loss().perceptual()) {
            checkLpipsWeights(config.gan().loss().perceptualWeights(), conf);
        }
        loader.check(new ImageBlocks(ds).index(), workers, "dataset " + dataUri);
    }

    static final String LPIPS_KEY = "gan.loss.perceptual_weights";

    /** Checks the LPIPS weights' names and shapes from the file's header (before any cluster work). */
    static void checkLpipsWeights(String uri, Configuration conf) throws IOException {
        org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(uri);
        org.apache.hadoop.fs.FileSystem fs = p.getFileSystem(conf);
        if (!fs.exists(p) || fs.getFileStatus(p).isDirectory()) {
            throw new ConfigException(LPIPS_KEY, uri + " is not a file (the LPIPS weights are never downloaded;"
                    + " docs/training.md shows the one-line conversion to safetensors)");
        }
        dev.rq.model.safetensors.SafeTensors.Header header;
        try (java.io.InputStream in = fs.open(p)) {
            header = dev.rq.model.safetensors.SafeTensors.readHeader(in);
        } catch (IOException e) {
            throw new ConfigException(LPIPS_KEY, uri + " is not a safetensors file: " + e.getMessage());
        }
        try {
            Lpips.checkState(header);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(LPIPS_KEY, uri + ": " + e.getMessage());
        }
    }

    /** The loader settings: one loader batch is one accumulation step of all workers. */
    static LoaderConfig loaderConfig(RqVaeRunConfig c) {
        return LoaderConfig.of(c.data(), c.train().batchSize() / c.train().gradAccumSteps());
    }

    @Override
    public Replica open(Collective ring, NDManager manager, Configuration conf, Optional<CheckpointDir> latest)
            throws IOException {
        return new VaeReplica(config, dataUri, ring, manager, conf, latest);
    }

    /** One rank's RQ-VAE, trainer and loader. */
    static final class VaeReplica implements Replica {
        private final RqVaeRunConfig config;
        private final RqVae vae;
        private final VaeTrainer trainer;
        private final CanonicalDataset dataset;
        private final BatchLoader loader;
        private final NDManager manager;
        private final String loadedFrom;
        private Cursor cursor = Cursor.start();

        VaeReplica(RqVaeRunConfig config, String dataUri, Collective ring, NDManager manager, Configuration conf,
                Optional<CheckpointDir> latest) throws IOException {
            this.config = config;
            this.manager = manager;
            var train = config.train();
            if (latest.isPresent()) {
                VaeCheckpoint.Loaded l = VaeCheckpoint.load(latest.get(), manager);
                vae = l.vae();
                trainer = new VaeTrainer(vae, train, gan(config, l.checkpoint(), manager, conf), ring);
                JsonNode st = l.checkpoint().trainerState();
                trainer.restore(l.checkpoint().optimizerSource(), st.get("step").asLong(), st.get("restart_rng").asLong());
                if (trainer.gan() != null) {
                    trainer.restoreDiscriminator(l.checkpoint().tensorSource(VaeCheckpoint.DISCRIMINATOR_OPTIMIZER),
                            st.get("discriminator_step").asLong());
                }
                cursor = new Cursor(st.get("cursor").get("epoch").asInt(), st.get("cursor").get("step").asLong());
                loadedFrom = l.checkpoint().manifest().files().get(Checkpoints.MODEL).sha256();
            } else if (train.init() != null) { // fine-tuning: weights only, fresh optimizer, step 0
                Checkpoints.Loaded init = InitWeights.open(train.init(), conf);
                vae = RqVae.fromState(config.model(), init.modelSource(), manager);
                trainer = new VaeTrainer(vae, train, gan(config, null, manager, conf), ring);
                loadedFrom = init.manifest().files().get(Checkpoints.MODEL).sha256();
            } else {
                vae = RqVae.create(config.model(), manager, train.seed());
                trainer = new VaeTrainer(vae, train, gan(config, null, manager, conf), ring);
                loadedFrom = null;
            }
            dataset = CanonicalDataset.open(dataUri, conf);
            int res = config.model().ddconfig().resolution();
            LoaderConfig lc = loaderConfig(config);
            loader = BatchLoader.builder()
                    .setDataset(dataset)
                    .setGlobalBatchSize(lc.batch())
                    .optRank(ring.rank(), ring.worldSize())
                    .optSeed(train.seed())
                    .optPartitions(lc.partitions())
                    .optShuffleWindow(lc.window())
                    .optCacheBytes(lc.cacheBytes())
                    .optReadThreads(lc.readThreads())
                    .setTransform(new ImageTransform(res, config.data().randomCrop()
                            ? ImageTransform.Mode.TRAIN : ImageTransform.Mode.EVAL, config.data().hflip()))
                    .optThreads(lc.decodeThreads())
                    .optStart(cursor)
                    .build();
        }

        /**
         * The GAN pair of a run with a {@code gan} section: the LPIPS weights from {@code
         * gan.loss.perceptual_weights}, the discriminator from the checkpoint being resumed or
         * freshly initialised from {@code train.seed}; null without {@code gan}.
         */
        private static VaeTrainer.Gan gan(RqVaeRunConfig config, Checkpoints.Loaded resumed, NDManager manager,
                Configuration conf) throws IOException {
            GanConfig g = config.gan();
            if (g == null) {
                return null;
            }
            Lpips lpips = null;
            if (g.loss().perceptual()) {
                PretrainedWeights w = PretrainedWeights.read(g.loss().perceptualWeights(), LPIPS_KEY, conf);
                lpips = Lpips.fromStateDict(w.tensors(), manager);
            }
            PatchDiscriminator disc;
            if (resumed != null) {
                var source = resumed.tensorSource(VaeCheckpoint.DISCRIMINATOR);
                if (source == null) {
                    throw new dev.rq.model.checkpoint.CheckpointException(resumed.dir().uri() + " lacks "
                            + VaeCheckpoint.DISCRIMINATOR + " (the run's config has a gan section)");
                }
                disc = PatchDiscriminator.fromState(g.disc().arch(), source, manager);
            } else {
                disc = PatchDiscriminator.create(g.disc().arch(), manager, config.train().seed());
            }
            return new VaeTrainer.Gan(g.loss(), disc, lpips);
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
        public ObjectNode trainStep() {
            int micro = config.train().gradAccumSteps();
            List<NDArray> batches = new ArrayList<>(micro);
            int epoch = cursor.epoch(); // of the step's first batch (gan.loss.disc_start counts epochs)
            try (NDManager stepManager = manager.newSubManager()) {
                for (int m = 0; m < micro; m++) {
                    Batch b = loader.next();
                    batches.add(Tensors.of(stepManager, b.images(), new Shape(b.shape())));
                }
                cursor = loader.cursor();
                return metrics(trainer.step(batches, epoch), cursor);
            }
        }

        @Override
        public dev.rq.model.train.StepLoop stepLoop() {
            return trainer.stepLoop();
        }

        @Override
        public String weightsSha() {
            return ModelHashes.tensorsSha256(vae.params().tensors());
        }

        @Override
        public void save(CheckpointDir dir, ObjectNode state) throws IOException {
            state.put("restart_rng", trainer.rngState());
            state.putObject("cursor").put("epoch", cursor.epoch()).put("step", cursor.step());
            VaeTrainer.Gan gan = trainer.gan();
            if (gan == null) {
                VaeCheckpoint.save(dir, vae, config, trainer.step(), trainer.optimizerState(), state);
            } else {
                state.put("discriminator_step", trainer.discriminatorStep());
                VaeCheckpoint.save(dir, vae, config, trainer.step(), trainer.optimizerState(), state,
                        gan.disc().stateDict(), trainer.discriminatorOptimizerState());
            }
        }

        /**
         * Writes {@code plots/recon-step-N.png}: the first 8 images of the split (evaluation
         * transform) on the top row, their reconstructions (eval mode, no EMA update) below.
         */
        @Override
        public void afterCommit(RunDirectory run, long step) throws IOException {
            int res = config.model().ddconfig().resolution();
            int n = (int) Math.min(8, dataset.numRows());
            try (BatchLoader val = BatchLoader.builder()
                            .setDataset(dataset)
                            .optCacheBytes(64L << 20)
                            .setGlobalBatchSize(n)
                            .optShuffle(false)
                            .optThreads(1)
                            .setTransform(new ImageTransform(res, ImageTransform.Mode.EVAL))
                            .build();
                    NDManager m = manager.newSubManager()) {
                Batch b = val.next();
                NDArray x = Tensors.of(m, b.images(), new Shape(b.shape()));
                float[] recon = vae.forward(x, false, Collective.local(), null).recon().toFloatArray();
                float[] both = new float[2 * recon.length];
                System.arraycopy(b.images(), 0, both, 0, recon.length);
                System.arraycopy(recon, 0, both, recon.length, recon.length);
                var grid = ImageGrid.grid(both, 2 * n, 3, res, res, n, 2, 0xFFFFFF);
                run.writeFile(RunDirectory.PLOTS + "/recon-" + RunDirectory.name(step) + ".png", ImageGrid.png(grid));
            }
        }

        @Override
        public void close() {
            loader.close();
            vae.close();
            if (trainer.gan() != null) {
                trainer.gan().disc().close();
                if (trainer.gan().lpips() != null) {
                    trainer.gan().lpips().close();
                }
            }
        }

        private static ObjectNode metrics(VaeStepMetrics m, Cursor cursor) {
            ObjectNode n = JSON.createObjectNode();
            n.put("epoch", cursor.epoch());
            n.put("lr", m.lr());
            n.put("loss", m.loss());
            n.put("recon_loss", m.reconLoss());
            n.put("commit_loss", m.commitLoss());
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
            if (m.gan() != null) {
                n.put("perceptual_loss", m.gan().perceptualLoss());
                n.put("gen_loss", m.gan().generatorLoss());
                n.put("adaptive_weight", m.gan().adaptiveWeight());
                n.put("disc_loss", m.gan().discriminatorLoss());
                n.put("disc_active", m.gan().discriminatorActive());
                n.put("disc_grad_norm", m.gan().discriminatorGradNorm());
                n.put("disc_lr", m.gan().discriminatorLr());
            }
            n.put("images", m.images());
            n.put("step_seconds", m.seconds());
            n.put("allreduce_seconds", m.timings().allReduce());
            n.put("allreduce_wait_seconds", m.timings().allReduceWait());
            n.put("allreduce_copy_seconds", m.timings().allReduceCopies());
            if (m.timings().paramSync() > 0) { // train.shard_optimizer_state: parameters from their owners
                n.put("param_sync_seconds", m.timings().paramSync());
            }
            n.put("forward_seconds", m.timings().forward());
            n.put("backward_seconds", m.timings().backward());
            return n;
        }
    }
}
