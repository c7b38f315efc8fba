package dev.rq.model.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.Repo;
import dev.rq.model.config.Configs;
import dev.rq.model.config.DiscConfig;
import dev.rq.model.config.GanLossConfig;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.distributed.ThreadedCollectives;
import dev.rq.model.engine.Engines;
import dev.rq.model.loss.Lpips;
import dev.rq.model.loss.PatchDiscriminator;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.TensorData;
import dev.rq.model.safetensors.TensorSource;
import dev.rq.model.util.SyntheticImages;
import dev.rq.model.vae.RqVae;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The stage-1 GAN pair in the training step (tiny RQ-VAE, random LPIPS and discriminator weights):
 * N = 2 ranks are bit-identical to N = 1 with the GAN active, {@code disc_start} counts epochs, and
 * a resume restores the discriminator and its optimizer exactly.
 */
class GanTrainerTest {

    static final DiscConfig DISC = new DiscConfig(3, 2, false, 8, false);
    static final GanLossConfig LOSS = new GanLossConfig("hinge", "vanilla", 0.75, 1.0, 0, "test:random-weights");

    /** One rank's models. */
    record Rank(RqVae vae, PatchDiscriminator disc, Lpips lpips, VaeTrainer trainer) {}

    static Rank rank(RqVaeRunConfig c, GanLossConfig loss, NDManager m, Collective collective) {
        RqVae vae = RqVae.create(c.model(), m, 3);
        PatchDiscriminator disc = PatchDiscriminator.create(DISC, m, 5);
        Lpips lpips = Lpips.random(m, 9);
        return new Rank(vae, disc, lpips, new VaeTrainer(vae, c.train(), new VaeTrainer.Gan(loss, disc, lpips),
                collective));
    }

    static RqVaeRunConfig config(String... overrides) throws Exception {
        List<String> o = new ArrayList<>(List.of("train.batch_size=4", "train.micro_batch_size=2"));
        o.addAll(List.of(overrides));
        return Configs.loadRqVae(Repo.conf("rqvae/tiny.yaml"), o);
    }

    @Test
    void twoRanksEqualOneRankBitForBitWithTheGanActive() throws Exception {
        RqVaeRunConfig c = config();
        int res = c.model().ddconfig().resolution();
        float[] images = SyntheticImages.batch(8, res, 4); // two steps of 4
        Engines.pytorch(1);
        Map<String, byte[]> one;
        List<VaeStepMetrics> oneMetrics = new ArrayList<>();
        try (NDManager m = Engines.newManager()) {
            Rank r = rank(c, LOSS, m, Collective.local());
            for (int s = 0; s < 2; s++) {
                oneMetrics.add(r.trainer().step(List.of(slice(m, images, s * 4, 4, res)), 0));
            }
            one = state(r);
        }
        List<List<VaeStepMetrics>> twoMetrics = List.of(new ArrayList<>(), new ArrayList<>());
        List<Map<String, byte[]>> twos = ThreadedCollectives.run(2, collective -> {
            try (NDManager m = Engines.newManager()) {
                int k = collective.rank();
                Rank r = rank(c, LOSS, m, collective);
                for (int s = 0; s < 2; s++) {
                    twoMetrics.get(k).add(r.trainer().step(List.of(slice(m, images, s * 4 + 2 * k, 2, res)), 0));
                }
                return state(r);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        for (Map<String, byte[]> two : twos) {
            assertThat(two.keySet()).containsExactlyElementsOf(one.keySet());
            for (String key : one.keySet()) {
                assertThat(two.get(key)).as("%s bit-identical for N=2 and N=1", key).isEqualTo(one.get(key));
            }
        }
        for (int s = 0; s < 2; s++) {
            VaeStepMetrics a = oneMetrics.get(s);
            VaeStepMetrics b = twoMetrics.get(0).get(s);
            assertThat(b.loss()).isEqualTo(a.loss());
            assertThat(b.gan()).isEqualTo(a.gan());
            assertThat(a.gan().discriminatorActive()).isTrue();
            assertThat(a.gan().adaptiveWeight()).isPositive();
            assertThat(a.gan().perceptualLoss()).isPositive();
            assertThat(a.gan().discriminatorStep()).isEqualTo(s + 1);
        }
    }

    @Test
    void shardedOptimizerStateOfBothPartsEqualsOneRankBitForBit() throws Exception {
        // train.shard_optimizer_state: the generator's and the discriminator's tensors owned across 2 ranks;
        // rank 0 writes both parts' moments (the optimizer and discriminator-optimizer files) streamed from rank 1
        RqVaeRunConfig c = config();
        RqVaeRunConfig sharded = config("train.shard_optimizer_state=true", "train.allreduce_bucket_mb=0.004");
        int res = c.model().ddconfig().resolution();
        float[] images = SyntheticImages.batch(8, res, 4);
        Engines.pytorch(1);
        Map<String, byte[]> one;
        try (NDManager m = Engines.newManager()) {
            Rank r = rank(c, LOSS, m, Collective.local());
            for (int s = 0; s < 2; s++) {
                r.trainer().step(List.of(slice(m, images, s * 4, 4, res)), 0);
            }
            one = state(r);
        }
        List<Map<String, byte[]>> twos = ThreadedCollectives.run(2, collective -> {
            try (NDManager m = Engines.newManager()) {
                int k = collective.rank();
                Rank r = rank(sharded, LOSS, m, collective);
                StepLoop loop = r.trainer().stepLoop();
                assertThat(loop.sharded()).isTrue();
                for (int s = 0; s < 2; s++) {
                    r.trainer().step(List.of(slice(m, images, s * 4 + 2 * k, 2, res)), 0);
                }
                Map<String, byte[]> out = new LinkedHashMap<>();
                r.vae().stateDict().forEach((key, v) -> out.put("vae." + key, v.data()));
                r.disc().stateDict().forEach((key, v) -> out.put("disc." + key, v.data()));
                if (k == 0) { // as VaeStage writes them: the optimizer file, then the discriminator's
                    loop.beginStream(collective::barrier);
                    host(r.trainer().optimizerState()).forEach((key, v) -> out.put("opt." + key, v.data()));
                    host(r.trainer().discriminatorOptimizerState()).forEach((key, v) -> out.put("dopt." + key, v.data()));
                    loop.endStream();
                } else {
                    loop.serveOptimizerState(collective::barrier);
                }
                collective.barrier();
                return out;
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        for (int k = 0; k < 2; k++) {
            for (String key : one.keySet()) {
                if (k == 0 || !key.contains("opt.")) {
                    assertThat(java.util.Arrays.equals(twos.get(k).get(key), one.get(key)))
                            .as("rank %d: %s bit-identical, sharded N=2 vs N=1", k, key).isTrue();
                }
            }
        }
        assertThat(twos.get(0).keySet()).containsExactlyElementsOf(one.keySet());
    }

    @Test
    void theGanPartStartsAtDiscStartEpochs() throws Exception {
        RqVaeRunConfig c = config("train.micro_batch_size=4");
        GanLossConfig later = new GanLossConfig("hinge", "vanilla", 0.75, 1.0, 1, "test:random-weights");
        int res = c.model().ddconfig().resolution();
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager()) {
            Rank r = rank(c, later, m, Collective.local());
            NDArray x = slice(m, SyntheticImages.batch(4, res, 6), 0, 4, res);
            Map<String, HostTensor> before = r.disc().stateDict();
            VaeStepMetrics e0 = r.trainer().step(List.of(x), 0);
            assertThat(e0.gan().discriminatorActive()).isFalse();
            assertThat(e0.gan().adaptiveWeight()).isZero();
            assertThat(e0.gan().discriminatorStep()).isZero();
            assertThat(e0.gan().perceptualLoss()).isPositive();
            for (var e : r.disc().stateDict().entrySet()) {
                assertThat(e.getValue().data()).as("epoch 0: %s untouched", e.getKey())
                        .isEqualTo(before.get(e.getKey()).data());
            }
            VaeStepMetrics e1 = r.trainer().step(List.of(x), 1);
            assertThat(e1.gan().discriminatorActive()).isTrue();
            assertThat(e1.gan().discriminatorStep()).isEqualTo(1);
            assertThat(e1.gan().adaptiveWeight()).isPositive();
            assertThat(e1.gan().discriminatorLr()).isPositive();
            // one micro-batch per step: exactly the official three train-mode BatchNorm updates
            assertThat(r.disc().stateDict().get("main.3.num_batches_tracked").toLongs()).containsExactly(3L);
            assertThat(r.disc().stateDict().get("main.3.running_mean").toFloats())
                    .isNotEqualTo(before.get("main.3.running_mean").toFloats());
            assertThat(r.trainer().step()).isEqualTo(2);
        }
    }

    @Test
    void resumingRestoresTheDiscriminatorAndItsOptimizerExactly() throws Exception {
        RqVaeRunConfig c = config();
        int res = c.model().ddconfig().resolution();
        float[] images = SyntheticImages.batch(12, res, 8);
        Engines.pytorch(1);
        try (NDManager m = Engines.newManager()) {
            Rank a = rank(c, LOSS, m, Collective.local());
            for (int s = 0; s < 2; s++) {
                a.trainer().step(List.of(slice(m, images, 4 * s, 4, res)), 0);
            }
            // what a checkpoint holds, copied to the host
            Map<String, HostTensor> vae = a.vae().stateDict();
            Map<String, HostTensor> disc = a.disc().stateDict();
            Map<String, HostTensor> opt = host(a.trainer().optimizerState());
            Map<String, HostTensor> dopt = host(a.trainer().discriminatorOptimizerState());
            long rng = a.trainer().rngState();
            a.trainer().step(List.of(slice(m, images, 8, 4, res)), 0);

            RqVae vae2 = RqVae.fromStateDict(c.model(), vae, m);
            PatchDiscriminator disc2 = PatchDiscriminator.fromStateDict(DISC, disc, m);
            VaeTrainer t2 = new VaeTrainer(vae2, c.train(), new VaeTrainer.Gan(LOSS, disc2, a.lpips()),
                    Collective.local());
            t2.restore(opt, 2, rng);
            t2.restoreDiscriminator(TensorSource.of(dopt), 2);
            t2.step(List.of(slice(m, images, 8, 4, res)), 0);
            Map<String, byte[]> x = state(a);
            Map<String, byte[]> y = state(new Rank(vae2, disc2, a.lpips(), t2));
            for (String k : x.keySet()) {
                assertThat(y.get(k)).as("%s after resume", k).isEqualTo(x.get(k));
            }
        }
    }

    static NDArray slice(NDManager m, float[] images, int first, int n, int res) {
        int size = 3 * res * res;
        float[] v = java.util.Arrays.copyOfRange(images, first * size, (first + n) * size);
        return m.create(v, new Shape(n, 3, res, res));
    }

    static Map<String, HostTensor> host(Map<String, TensorData> state) throws java.io.IOException {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, TensorData> e : state.entrySet()) {
            java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
            e.getValue().writeTo(b);
            out.put(e.getKey(), new HostTensor(e.getValue().dtype(), e.getValue().shape(), b.toByteArray()));
        }
        return out;
    }

    /** Every weight, buffer and optimizer moment of both models, as bytes. */
    static Map<String, byte[]> state(Rank r) throws java.io.IOException {
        Map<String, byte[]> out = new LinkedHashMap<>();
        r.vae().stateDict().forEach((k, v) -> out.put("vae." + k, v.data()));
        r.disc().stateDict().forEach((k, v) -> out.put("disc." + k, v.data()));
        host(r.trainer().optimizerState()).forEach((k, v) -> out.put("opt." + k, v.data()));
        host(r.trainer().discriminatorOptimizerState()).forEach((k, v) -> out.put("dopt." + k, v.data()));
        return out;
    }
}
