package dev.rq.jobs.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.data.loader.Cursor;
import dev.rq.data.loader.LoaderConfig;
import dev.rq.data.loader.TokenBatch;
import dev.rq.data.loader.TokenBatchLoader;
import dev.rq.data.loader.TokenBlocks;
import dev.rq.io.HadoopDir;
import dev.rq.model.checkpoint.ModelHashes;
import dev.rq.model.checkpoint.CheckpointDir;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.Configs;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.nn.Tensors;
import dev.rq.model.transformer.Losses;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.transformer.TransformerCheckpoint;
import dev.rq.model.transformer.TransformerStepMetrics;
import dev.rq.model.transformer.TransformerTrainer;
import dev.rq.model.sampling.RqSampler;
import dev.rq.model.util.Rng;
import dev.rq.model.vae.RqVae;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.report.ImageGrid;
import dev.rq.tables.TokenBlock;
import dev.rq.tables.TokenManifest;
import dev.rq.tables.TokenSplit;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;

/**
 * Stage 2: the RQ-Transformer on a token table written by {@code rq tokenize}, with a frozen
 * RQ-VAE (the one that wrote the table, checked by codebook SHA-256) for code embeddings and soft
 * targets. Samples are the table's rows in the same seeded, N-independent order as stage 1 ({@code
 * data.partitions}, {@code data.shuffle_window}), streamed block by block ({@link
 * TokenBatchLoader}): heap per rank is bounded by {@code data.cache_mb}, not by the table. Each
 * optimizer step consumes {@code grad_accum_steps} global batches; this rank reads its slice of
 * each and cuts it into micro-batches of {@code train.micro_batch_size} rows, the unit of
 * computation whatever N ({@link TransformerTrainer}: N ranks give one rank's bits).
 *
 * <p>Targets: hard codes ({@code loss.type: cross_entropy}) need only the codes; soft targets
 * ({@code soft_target_cross_entropy}, the paper's default, optionally with stochastic input codes)
 * are computed per sample from the stored pre-quantization latents, so the table must have been
 * written with {@code --with-latents}. Stochastic draws use a generator keyed by (seed, epoch,
 * sample), so they are the same for any N.
 */
public final class TransformerStage implements TrainingStage {

    private static final long serialVersionUID = 1L;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long CODES_STREAM = 0x50F7C0DEL;

    private final TransformerRunConfig config;
    private final String tokensUri;
    private final String split;
    private final String heldOutSplit;
    private final String vaeUri;

    /**
     * @param config the validated stage-2 run config; {@code vae.checkpoint} must name the RQ-VAE checkpoint
     * @param tokensUri token table root
     * @param split training split of the table
     * @param heldOutSplit split for bits-per-code reporting at checkpoints, or null
     */
    public TransformerStage(TransformerRunConfig config, String tokensUri, String split, String heldOutSplit) {
        if (config.vae().checkpoint() == null) {
            throw new ConfigException("vae.checkpoint", "stage-2 training needs the RQ-VAE checkpoint (--vae)");
        }
        this.config = config;
        this.tokensUri = tokensUri;
        this.split = split;
        this.heldOutSplit = heldOutSplit;
        this.vaeUri = config.vae().checkpoint();
    }

    @Override
    public String kind() {
        return TransformerCheckpoint.KIND;
    }

    @Override
    public JsonNode config() {
        return Configs.toTree(config);
    }

    @Override
    public JsonNode resolve(JsonNode stored) {
        return Configs.toTree(TransformerRunConfig.bind(stored)); // TransformerRunConfig.load's binding
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
        config.data().checkWorkers(loaderConfig(config).batch(), workers);
    }

    @Override
    public void validate(Configuration conf, int workers) throws IOException {
        check(workers);
        var t = config.train();
        TokenManifest m = TokenManifest.read(tokensUri, conf);
        if (!m.splits().containsKey(split)) {
            throw new ConfigException("--split", "token table " + tokensUri + " has splits " + m.splits().keySet()
                    + ", not '" + split + "'");
        }
        if (config.loss().soft() && !m.hasLatents()) {
            throw new ConfigException("loss.type", "soft targets need the pre-quantization latents: tokenize with"
                    + " --with-latents, or set loss.type=cross_entropy to train on hard codes");
        }
        LoaderConfig loader = loaderConfig(config);
        try (NDManager host = Engines.newManager()) {
            var l = VaeCheckpoint.load(new HadoopDir(vaeUri, conf), host);
            RqVae vae = l.vae();
            String sha = ModelHashes.codebookSha256(l.vae().stateTensors(), vae.config().hparams());
            if (!sha.equals(m.tokenizer().codebookSha256())) {
                throw new ConfigException("--vae", "the RQ-VAE " + vaeUri + " (codebook SHA-256 " + sha.substring(0, 12)
                        + ") did not write token table " + tokensUri + " (codebook " + m.tokenizer().codebookSha256()
                        .substring(0, 12) + ")");
            }
            config.model().checkCompatible(vae.config());
        }
        long rows = m.splits().get(split).rows();
        if (rows == 0) {
            throw new IllegalArgumentException("--tokens: split '" + split + "' of token table " + tokensUri
                    + " is empty (0 rows): nothing to train on; tokenize a non-empty dataset");
        }
        if (rows < t.batchSize() / t.gradAccumSteps()) {
            throw new ConfigException("train.batch_size", "split '" + split + "' has " + rows
                    + " rows, fewer than one micro-batch");
        }
        if (config.train().init() != null) {
            InitWeights.validate(config.train().init(), kind(), conf, h -> RqTransformer.checkState(config.model(), h));
        }
        TokenSplit s = TokenSplit.open(tokensUri, split, conf);
        loader.check(new TokenBlocks(s, config.loss().soft()).index(), workers, s.describe());
    }

    /** The loader settings: one loader batch is one accumulation step of all workers. */
    static LoaderConfig loaderConfig(TransformerRunConfig c) {
        return LoaderConfig.of(c.data(), c.train().batchSize() / c.train().gradAccumSteps());
    }

    @Override
    public Replica open(Collective ring, NDManager manager, Configuration conf, Optional<CheckpointDir> latest)
            throws IOException {
        return new TransformerReplica(config, ring, manager, conf, latest);
    }

    /** One rank's transformer, frozen RQ-VAE, trainer and token rows. */
    final class TransformerReplica implements Replica {
        private final TransformerRunConfig config;
        private final Collective ring;
        private final NDManager manager;
        private final RqVae vae;
        private final RqTransformer model;
        private final TransformerTrainer trainer;
        private final TokenBatchLoader loader;
        private final TokenManifest manifest;
        private final String loadedFrom;
        private Cursor cursor = Cursor.start();
        private final Configuration conf;

        TransformerReplica(TransformerRunConfig config, Collective ring, NDManager manager, Configuration conf,
                Optional<CheckpointDir> latest) throws IOException {
            this.config = config;
            this.ring = ring;
            this.manager = manager;
            this.conf = conf;
            this.vae = VaeCheckpoint.load(new HadoopDir(vaeUri, conf), manager).vae();
            if (latest.isPresent()) {
                TransformerCheckpoint.Loaded l = TransformerCheckpoint.load(latest.get(), manager);
                model = l.model();
                trainer = new TransformerTrainer(model, vae, config, ring);
                JsonNode st = l.checkpoint().trainerState();
                trainer.restore(l.checkpoint().optimizerSource(), st.get("step").asLong());
                cursor = new Cursor(st.get("cursor").get("epoch").asInt(), st.get("cursor").get("step").asLong());
                loadedFrom = l.checkpoint().manifest().files().get(Checkpoints.MODEL).sha256();
            } else if (config.train().init() != null) { // fine-tuning: weights only, fresh optimizer, step 0
                Checkpoints.Loaded init = InitWeights.open(config.train().init(), conf);
                model = RqTransformer.fromState(config.model(), init.modelSource(), manager);
                trainer = new TransformerTrainer(model, vae, config, ring);
                loadedFrom = init.manifest().files().get(Checkpoints.MODEL).sha256();
            } else {
                model = RqTransformer.create(config.model(), manager, config.train().seed());
                trainer = new TransformerTrainer(model, vae, config, ring);
                loadedFrom = null;
            }
            TokenSplit tokens = TokenSplit.open(tokensUri, split, conf);
            manifest = tokens.manifest();
            loader = new TokenBatchLoader(tokens, loaderConfig(config), config.loss().soft(), config.train().seed(),
                    ring.rank(), ring.worldSize(), cursor, Integer.MAX_VALUE);
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
            int accumulation = config.train().gradAccumSteps();
            int g = config.train().microBatchSize();
            try (NDManager stepManager = manager.newSubManager()) {
                List<TransformerTrainer.MicroBatch> batches = new ArrayList<>();
                for (int a = 0; a < accumulation; a++) {
                    TokenBatch t = loader.next(); // this rank's share: L micro-batches of g rows (check())
                    for (int from = 0; from < t.size(); from += g) {
                        batches.add(microBatch(stepManager, t, from, g));
                    }
                }
                cursor = loader.cursor();
                return metrics(trainer.step(batches));
            }
        }

        /** Codes [n, H, W, D] (and soft targets) of rows [from, from + n) of this rank's share {@code t}. */
        private TransformerTrainer.MicroBatch microBatch(NDManager m, TokenBatch t, int from, int n) {
            int[] shape = manifest.codeShape().stream().mapToInt(Integer::intValue).toArray();
            int per = t.codesPerRow();
            long[] labels = new long[n];
            for (int i = 0; i < n; i++) {
                labels[i] = Math.max(0, t.labels()[from + i]);
            }
            if (!config.loss().soft()) {
                long[] codes = new long[n * per];
                for (int i = 0; i < codes.length; i++) {
                    codes[i] = t.codes()[from * per + i];
                }
                NDArray c = Tensors.of(m, codes).reshape(n, shape[0], shape[1], shape[2]);
                return TransformerTrainer.MicroBatch.ofCodes(c, labels);
            }
            // soft targets (and optionally stochastic input codes) from the stored latents, per sample
            int c = vae.config().hparams().embedDim();
            NDList codes = new NDList();
            NDList soft = new NDList();
            for (int k = 0; k < n; k++) {
                int i = from + k;
                long row = t.indices()[i];
                byte[] half = java.util.Arrays.copyOfRange(t.latents(), i * t.latentBytes(), (i + 1) * t.latentBytes());
                NDArray ze = Tensors.of(m, halfToFloat(half), new Shape(1, shape[0], shape[1], c));
                Rng rng = Rng.of(config.train().seed(), CODES_STREAM, t.cursor().epoch(), row);
                NDList sc = vae.softCodes(ze, config.loss().temp(), config.loss().stochasticCodes(), rng);
                soft.add(sc.get(0));
                codes.add(sc.get(1));
            }
            NDArray cs = codes.size() == 1 ? codes.get(0) : NDArrays.concat(codes, 0);
            NDArray ss = soft.size() == 1 ? soft.get(0) : NDArrays.concat(soft, 0);
            return TransformerTrainer.MicroBatch.ofCodes(cs, ss, labels);
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
            state.putObject("cursor").put("epoch", cursor.epoch()).put("step", cursor.step());
            state.put("vae_checkpoint", vaeUri);
            state.put("tokens", tokensUri);
            TransformerCheckpoint.save(dir, model, config, trainer.step(), trainer.optimizerState(), state);
        }

        /**
         * Writes {@code plots/samples-step-N.png} and appends the held-out bits per code per depth
         * (eval mode, hard targets) to {@code heldout.jsonl}.
         */
        @Override
        public void afterCommit(RunDirectory run, long step) throws IOException {
            sampleGrid(run, step);
            if (heldOutSplit != null && manifest.splits().containsKey(heldOutSplit)) {
                heldOut(run, step);
            }
        }

        /**
         * One sample of each of the first 8 classes (8 samples of class 0 for an unconditional
         * model), the config's sampling settings and a fixed seed, so that the grids of successive
         * checkpoints compare; decoded with the run's RQ-VAE.
         */
        private void sampleGrid(RunDirectory run, long step) throws IOException {
            var mc = config.model();
            if (mc.condLength() != 1) {
                return; // multi-token conditions: no default condition to sample from
            }
            int n = 8;
            long[] cond = new long[n];
            for (int i = 0; i < n; i++) {
                cond[i] = i % Math.min(n, mc.condVocab());
            }
            RqSampler sampler = new RqSampler(model, vae);
            long[] codes = sampler.sample(cond, config.sampling(), RqSampler.rowGenerators(config.train().seed(), 0, n),
                    true);
            int res = vae.config().ddconfig().resolution();
            try (NDManager m = manager.newSubManager()) {
                float[] images = vae.decodeCodes(sampler.toTensor(m, codes)).toFloatArray();
                var grid = ImageGrid.grid(images, n, 3, res, res, n, 2, 0xFFFFFF);
                run.writeFile(RunDirectory.PLOTS + "/samples-" + RunDirectory.name(step) + ".png", ImageGrid.png(grid));
            }
        }

        private void heldOut(RunDirectory run, long step) throws IOException {
            int n = (int) Math.min(256, manifest.splits().get(heldOutSplit).rows());
            TokenBlock held = TokenSplit.open(tokensUri, heldOutSplit, conf).head(n); // codes of the first n rows
            int[] shape = manifest.codeShape().stream().mapToInt(Integer::intValue).toArray();
            int depth = shape[2];
            int per = held.codesPerRow();
            double[] nll = new double[depth];
            int batch = 16;
            for (int s = 0; s < n; s += batch) {
                int b = Math.min(batch, n - s);
                try (NDManager m = manager.newSubManager()) {
                    long[] codes = new long[b * per];
                    long[] labels = new long[b];
                    for (int i = 0; i < b; i++) {
                        for (int j = 0; j < per; j++) {
                            codes[i * per + j] = held.codes()[(s + i) * per + j];
                        }
                        labels[i] = Math.max(0, held.labels()[s + i]);
                    }
                    NDArray c = Tensors.of(m, codes).reshape(b, shape[0], shape[1], depth);
                    NDArray logits = model.forward(vae, c, Tensors.of(m, labels), null).logits();
                    float[] perDepth = Losses.nll(logits, c).sum(new int[] {0, 1, 2}).toFloatArray(); // [D]
                    for (int d = 0; d < depth; d++) {
                        nll[d] += perDepth[d];
                    }
                }
            }
            ObjectNode line = JSON.createObjectNode();
            line.put("step", step);
            line.put("split", heldOutSplit);
            line.put("rows", n);
            var bits = line.putArray("bits_per_code");
            for (int d = 0; d < depth; d++) {
                bits.add(nll[d] / ((double) n * shape[0] * shape[1]) / Math.log(2));
            }
            List<String> lines = run.readLines("heldout.jsonl");
            lines.add(line.toString());
            run.writeFile("heldout.jsonl", (String.join("\n", lines) + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
            TrainingJob.LOG.info("held-out bits/code per depth at step {}: {}", step, bits);
        }

        @Override
        public void close() {
            loader.close();
            model.close();
            vae.close();
        }

        private static float[] halfToFloat(byte[] half) {
            return new HostTensor(HostTensor.Dtype.F16, new long[] {half.length / 2}, half).toFloats();
        }

        private static ObjectNode metrics(TransformerStepMetrics m) {
            ObjectNode n = JSON.createObjectNode();
            n.put("lr", m.lr());
            n.put("loss", m.loss());
            n.put("bits_per_code", m.meanBitsPerCode());
            var b = n.putArray("bits_per_code_per_depth");
            for (double v : m.bitsPerCode()) {
                b.add(v);
            }
            n.put("grad_norm", m.gradNorm());
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
