package dev.rq.jobs.tokenize;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.data.dataset.CanonicalDataset;
import dev.rq.model.checkpoint.LocalDir;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.vae.RqVae;
import dev.rq.model.vae.VaeCheckpoint;
import dev.rq.tables.Variant;
import dev.rq.data.image.Views;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.SparkSession;

/** Shared test fixtures: a local[2,3] session, a random tiny checkpoint, in-process encoding. */
public final class TokenFixtures {

    private TokenFixtures() {}

    /** The repository root. */
    public static Path repo() {
        return Path.of(System.getProperty("rq.repo.dir", "..")).toAbsolutePath().normalize();
    }

    /** The emoji validation split (186 images, 64 px). */
    public static String emojiValidation() {
        return repo().resolve("data/emoji/validation").toString();
    }

    /** local[2, 3]: 2 task slots, 3 attempts per task; UI off, bound to 127.0.0.1. */
    public static SparkSession spark(String app) {
        return SparkSession.builder()
                .master("local[2,3]")
                .appName(app)
                .config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                // as in production (SparkSessions): an unregistered class fails here, not on a cluster
                .config("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .config("spark.kryo.registrationRequired", "true")
                .config("spark.kryo.registrator", "dev.rq.jobs.RqKryoRegistrator")
                .config("spark.sql.shuffle.partitions", "2")
                .getOrCreate();
    }

    /** The tiny test config. */
    public static RqVaeRunConfig tinyConfig() throws Exception {
        return Configs.loadRqVae(repo().resolve("conf/rqvae/tiny.yaml"), List.of());
    }

    /** Writes a randomly initialised tiny RQ-VAE checkpoint. */
    public static Path tinyCheckpoint(Path dir, long seed) throws Exception {
        RqVaeRunConfig config = tinyConfig();
        Engines.pytorch(2);
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(config.model(), m, seed)) {
            VaeCheckpoint.save(new LocalDir(dir), vae, config, 0, null, null);
        }
        return dir;
    }

    /** @return the codebook SHA-256 of an RQ-VAE checkpoint (what a token table written by it records) */
    public static String codebookSha256(Path checkpoint) throws Exception {
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager()) {
            VaeCheckpoint.Loaded l = VaeCheckpoint.load(new LocalDir(checkpoint), m);
            try (RqVae vae = l.vae()) {
                return dev.rq.model.checkpoint.ModelHashes.codebookSha256(l.checkpoint().model(),
                        vae.config().hparams());
            }
        }
    }

    /** One image view's model input and identity. */
    public record View(String id, long label, int variant, float[] x) {}

    /** Every view of every image of a split, in source order. */
    public static List<View> views(String splitUri, int size, List<Variant> variants) throws Exception {
        CanonicalDataset ds = CanonicalDataset.open(splitUri, new Configuration());
        Views v = new Views(size);
        int n = v.tensorLength();
        List<View> out = new ArrayList<>();
        for (CanonicalDataset.Sample s : ds.readAll()) {
            float[] all = new float[variants.size() * n];
            v.write(s.bytes(), variants, all, 0);
            for (int i = 0; i < variants.size(); i++) {
                float[] x = new float[n];
                System.arraycopy(all, i * n, x, 0, n);
                out.add(new View(s.path(), s.label(), variants.get(i).id, x));
            }
        }
        return out;
    }

    /** In-process codes of views ("id/variant" → flattened codes), batches of {@code batch}, padded. */
    public static Map<String, long[]> encode(RqVae vae, List<View> views, int size, int batch) {
        Map<String, long[]> out = new LinkedHashMap<>();
        int n = 3 * size * size;
        for (int b = 0; b < views.size(); b += batch) {
            float[] x = new float[batch * n];
            int count = Math.min(batch, views.size() - b);
            for (int i = 0; i < batch; i++) {
                System.arraycopy(views.get(b + Math.min(i, count - 1)).x(), 0, x, i * n, n);
            }
            try (NDManager m = Engines.newManager()) {
                NDArray in = m.create(x, new Shape(batch, 3, size, size));
                NDArray ze = vae.encode(in, false);
                long[] c = vae.quantizer().quantize(ze, false, Collective.local(), null).codes().toLongArray();
                int len = c.length / batch;
                for (int i = 0; i < count; i++) {
                    long[] one = new long[len];
                    System.arraycopy(c, i * len, one, 0, len);
                    View v = views.get(b + i);
                    out.put(v.id() + "/" + v.variant(), one);
                }
            }
        }
        return out;
    }
}
