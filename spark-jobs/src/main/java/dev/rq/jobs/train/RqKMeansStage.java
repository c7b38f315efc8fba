package dev.rq.jobs.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.data.items.ItemSample;
import dev.rq.data.items.PreparedItems;
import dev.rq.model.checkpoint.CheckpointDir;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.checkpoint.ModelHashes;
import dev.rq.model.config.Configs;
import dev.rq.model.config.SidModelConfig;
import dev.rq.model.config.SidRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.nn.Tensors;
import dev.rq.model.quantizer.KMeans;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.sid.SidCheckpoint;
import dev.rq.model.util.Rng;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;

/**
 * Residual k-means (the {@code rq-kmeans} method of {@code rq train-sid}) as a training stage, so it
 * gets the same ranks, resume, checkpoints and progress as the RQ-VAE: every "step" is one Lloyd
 * iteration of one level, over the deterministic k-means sample ({@link ItemSample}) spread across
 * the ranks ({@link KMeans} through the ring).
 *
 * <pre>
 * step s (1-based) → level ℓ = (s−1) / I, iteration i = (s−1) mod I   (I = kmeans.iterations, D·I steps)
 * i = 0:  residual_ℓ = x − Σ_{j<ℓ} c_j(x)  (fitted levels);  k-means++ seeding of level ℓ
 * every:  one Lloyd iteration of level ℓ on residual_ℓ
 * </pre>
 *
 * Checkpoints (one per level by default) hold every level's centroids so far ({@code
 * quantizer.codebooks.<d>.weight}, zeros for levels not started) and the level, iteration and
 * seeding generator; resuming recomputes the residual from the fitted levels and continues with
 * bit-identical results.
 */
public final class RqKMeansStage implements TrainingStage {

    private static final long serialVersionUID = 1L;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final SidRunConfig config;
    private final String itemsUri;

    /**
     * @param config a run config with {@code model.method: rq-kmeans}
     * @param itemsUri the prepared items ({@link PreparedItems})
     */
    public RqKMeansStage(SidRunConfig config, String itemsUri) {
        if (!config.model().isKMeans()) {
            throw new IllegalArgumentException("RqKMeansStage needs model.method: rq-kmeans");
        }
        this.config = config;
        this.itemsUri = itemsUri;
    }

    @Override
    public String kind() {
        return SidCheckpoint.RQ_KMEANS;
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
    public Limits limits() {
        SidRunConfig c = config;
        int it = c.kmeans().iterations();
        return new Limits((long) c.model().depth() * it, it, 1, c.train().keepCheckpoints());
    }

    /** Residual k-means splits no batch over the ranks (each fits its slice of the sample). */
    @Override
    public void check(int workers) {}

    @Override
    public void validate(Configuration conf, int workers) throws IOException {
        check(workers);
        PreparedItems items = PreparedItems.open(itemsUri, conf);
        if (items.numRows() == 0) {
            throw new IllegalArgumentException("--data: no valid item to fit (" + items.manifest().read()
                    + " rows read, " + items.manifest().rejected() + " rejected: " + items.manifest().rejectedByReason()
                    + ")");
        }
    }

    @Override
    public Replica open(Collective ring, NDManager manager, Configuration conf, Optional<CheckpointDir> latest)
            throws IOException {
        return new KMeansReplica(config, itemsUri, ring, manager, conf, latest);
    }

    /** One rank's sample slice and the centroids fitted so far. */
    static final class KMeansReplica implements Replica {
        private final SidRunConfig config;
        private final SidModelConfig model;
        private final Collective ring;
        private final NDManager manager;
        private final NDArray x; // [n_r, dim] this rank's slice of the sample
        private final long sampleSize;
        private final float[][] centroids; // per level [K, dim]; null until the level is seeded
        private final Rng rng;
        private final String loadedFrom;
        private long step;
        private NDArray residual; // of the current level
        private int residualLevel = -1;

        KMeansReplica(SidRunConfig config, String itemsUri, Collective ring, NDManager manager, Configuration conf,
                Optional<CheckpointDir> latest) throws IOException {
            this.config = config;
            this.model = config.model();
            this.ring = ring;
            this.manager = manager;
            int maxK = 0;
            for (int d = 0; d < model.depth(); d++) {
                maxK = Math.max(maxK, model.codebookSize(d));
            }
            PreparedItems items = PreparedItems.open(itemsUri, conf);
            long[] sample = ItemSample.indices(items.numRows(), config.kmeans().sampleSizeFor(maxK),
                    config.train().seed());
            this.sampleSize = sample.length;
            long[] mine = ItemSample.slice(sample, ring.rank(), ring.worldSize());
            this.x = Tensors.of(manager, items.readRows(mine), new Shape(mine.length, items.dim()));
            this.centroids = new float[model.depth()][];
            this.rng = Rng.of(config.train().seed(), 0x6b6d);
            if (latest.isPresent()) {
                Checkpoints.Loaded c = Checkpoints.read(latest.get());
                if (!SidCheckpoint.RQ_KMEANS.equals(c.manifest().kind())) {
                    throw new CheckpointException(latest.get().uri() + " is not an rq-kmeans checkpoint");
                }
                JsonNode st = c.trainerState();
                step = st.get("step").asLong();
                rng.setState(st.get("kmeans_rng").asLong());
                Map<String, HostTensor> t = c.model();
                int started = st.get("levels_started").asInt();
                for (int d = 0; d < started; d++) {
                    centroids[d] = t.get(key(d)).toFloats();
                }
                loadedFrom = c.manifest().files().get(Checkpoints.MODEL).sha256();
            } else {
                loadedFrom = null;
            }
        }

        private static String key(int d) {
            return "quantizer.codebooks." + d + ".weight";
        }

        @Override
        public long step() {
            return step;
        }

        @Override
        public String loadedFrom() {
            return loadedFrom;
        }

        @Override
        public ObjectNode trainStep() {
            long t0 = System.nanoTime();
            int iters = config.kmeans().iterations();
            int level = (int) (step / iters);
            int k = model.codebookSize(level);
            if (residualLevel != level) {
                residual();
            }
            if (step % iters == 0) {
                centroids[level] = KMeans.seed(residual, k, rng, ring);
            }
            KMeans.Iteration it = KMeans.lloyd(residual, centroids[level], k, ring);
            centroids[level] = it.centroids();
            step++;
            double h = 0;
            int used = 0;
            for (double c : it.counts()) {
                if (c > 0) {
                    double p = c / sampleSize;
                    h -= p * Math.log(p);
                    used++;
                }
            }
            ObjectNode n = JSON.createObjectNode();
            n.put("level", level);
            n.put("iteration", step - (long) level * iters);
            n.put("loss", it.inertia() / sampleSize); // mean squared distance to the nearest centroid
            n.put("level_perplexity", Math.exp(h));
            n.put("level_used_fraction", used / (double) k);
            n.put("images", sampleSize); // items per step (the progress line's throughput unit)
            n.put("step_seconds", (System.nanoTime() - t0) / 1e9);
            return n;
        }

        /** residual = x − Σ over the levels before the current one of the nearest centroid. */
        private void residual() {
            int level = (int) (step / config.kmeans().iterations());
            if (residual != null && residual != x) {
                residual.close();
            }
            NDArray r = x;
            for (int d = 0; d < level; d++) {
                int k = model.codebookSize(d);
                int[] idx = KMeans.assign(r, centroids[d], k).index();
                long[] li = new long[idx.length];
                for (int i = 0; i < idx.length; i++) {
                    li[i] = idx[i];
                }
                try (NDArray c = Tensors.of(manager, centroids[d], new Shape(k, model.inputDim()));
                        NDArray at = Tensors.of(manager, li)) {
                    NDArray next = r.sub(c.get(new NDIndex("{}", at)));
                    if (r != x) {
                        r.close();
                    }
                    r = next;
                }
            }
            residual = r;
            residualLevel = level;
        }

        private Map<String, HostTensor> state() {
            Map<String, HostTensor> t = new LinkedHashMap<>();
            for (int d = 0; d < model.depth(); d++) {
                float[] c = centroids[d] != null ? centroids[d] : new float[model.codebookSize(d) * model.inputDim()];
                t.put(key(d), HostTensor.ofFloats(c, model.codebookSize(d), model.inputDim()));
            }
            return t;
        }

        private int levelsStarted() {
            int n = 0;
            while (n < centroids.length && centroids[n] != null) {
                n++;
            }
            return n;
        }

        @Override
        public String weightsSha() {
            return ModelHashes.tensorsSha256(state());
        }

        @Override
        public void save(CheckpointDir dir, ObjectNode state) throws IOException {
            state.put("kmeans_rng", rng.state());
            state.put("levels_started", levelsStarted());
            state.put("sample_size", sampleSize);
            SidCheckpoint.save(dir, state(), config, step, null, state);
        }

        @Override
        public void afterCommit(RunDirectory run, long step) {}

        @Override
        public void close() {
            if (residual != null && residual != x) {
                residual.close();
            }
            x.close();
        }
    }
}
