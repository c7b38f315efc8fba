package dev.rq.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.rq.model.config.Configs;
import dev.rq.model.config.TransformerConfig;
import dev.rq.model.config.VaeConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.loss.Stage1Parity;
import dev.rq.model.metrics.InceptionParity;
import dev.rq.model.util.Rng;
import dev.rq.model.transformer.Losses;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.vae.RqVae;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Parity with the official PyTorch implementation: one dynamic test per {@code *.config.json}
 * fixture of {@link Fixtures#all()} (the repository's copy, {@code shared/fixtures/official-parity}
 * and {@code shared/fixtures/official-parity-stage1} when present, and every directory of
 * {@code -Drq.parity.fixtures}), named after its file stem; the kinds of a shared directory that are not implemented
 * yet would be reported as skipped with that reason ({@link Fixtures#pending()}, none now); a fixture of an unknown
 * kind fails. Nothing about a fixture's shapes is assumed:
 * the model is built from its config.
 */
class OfficialParityTest {

    static final double REL_TOL = 1e-4;

    @TestFactory
    List<DynamicTest> officialFixtures() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (Fixtures.Fixture f : Fixtures.all()) {
            Path dir = f.dir();
            String stem = f.stem();
            Path cfg = f.file(".config.json");
            if (stem.startsWith("rqvae")) {
                tests.add(DynamicTest.dynamicTest(f.name(), cfg.toUri(), () -> checkRqVae(dir, stem)));
            } else if (stem.startsWith("rqtransformer")) {
                tests.add(DynamicTest.dynamicTest(f.name(), cfg.toUri(), () -> checkRqTransformer(dir, stem)));
            } else if (stem.startsWith("lpips")) {
                tests.add(DynamicTest.dynamicTest(f.name(), cfg.toUri(), () -> Stage1Parity.checkLpips(dir, stem)));
            } else if (stem.startsWith("disc")) {
                tests.add(DynamicTest.dynamicTest(f.name(), cfg.toUri(), () -> Stage1Parity.checkDisc(dir, stem)));
            } else if (stem.startsWith("stage1")) {
                tests.add(DynamicTest.dynamicTest(f.name(), cfg.toUri(), () -> Stage1Parity.checkStage1(dir, stem)));
            } else if (stem.startsWith("inception")) {
                tests.add(DynamicTest.dynamicTest(f.name(), cfg.toUri(), () -> InceptionParity.check(dir, stem)));
            } else {
                tests.add(DynamicTest.dynamicTest(f.name(), cfg.toUri(), () -> {
                    throw new AssertionError("unknown fixture kind: " + cfg);
                }));
            }
        }
        for (Fixtures.Fixture f : Fixtures.pending()) {
            tests.add(DynamicTest.dynamicTest(f.name(), f.file(".config.json").toUri(), () -> Assumptions.abort(
                    "skipped: the kind of " + f.stem() + " is not implemented or does not pass yet (Fixtures.SHARED_PARTIAL,"
                    + " see rq-model/src/test/resources/fixtures/README.md)")));
        }
        assertThat(tests).as("fixtures found in %s", Fixtures.parityDirs()).isNotEmpty();
        return tests;
    }

    static SafeTensors.Contents read(Path p) throws IOException {
        try (InputStream in = Files.newInputStream(p)) {
            return SafeTensors.read(in);
        }
    }

    static void checkRqVae(Path dir, String stem) throws IOException {
        JsonNode tree = Configs.readTree(dir.resolve(stem + ".config.json"));
        VaeConfig config = Configs.readOfficialVae(tree);
        SafeTensors.Contents weights = read(dir.resolve(stem + ".weights.safetensors"));
        SafeTensors.Contents io = read(dir.resolve(stem + ".io.safetensors"));
        Engines.pytorch(2);
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.fromStateDict(config, weights.tensors(), m)) {
            // the state dict round-trips with the official keys and values
            assertThat(vae.stateDict().keySet()).containsExactlyInAnyOrderElementsOf(weights.tensors().keySet());
            NDArray x = io.get("input").toNDArray(m);
            NDArray ze = vae.encode(x, false);
            close(stem, "z_e", ze, io.get("z_e"));
            RqVae.Forward f = vae.forward(x, false, Collective.local(), null);
            assertThat(f.quantized().codes().toLongArray()).as("%s codes", stem)
                    .containsExactly(io.get("codes").toLongs());
            close(stem, "z_q", f.quantized().zq(), io.get("z_q"));
            close(stem, "recon", f.recon(), io.get("recon"));
            RqVae.LossTerms loss = vae.loss(x, f);
            close(stem, "commitment_loss", loss.commit(), io.get("commitment_loss"));
            close(stem, "loss_recon", loss.recon(), io.get("loss_recon"));
            close(stem, "loss_total", loss.total(), io.get("loss_total"));
            NDArray codes = io.get("codes").toNDArray(m);
            close(stem, "decode_code", vae.decodeCodes(codes), io.get("decode_code"));
            close(stem, "code_emb_with_depth", vae.codeEmbeddingWithDepth(codes), io.get("code_emb_with_depth"));
            for (String key : io.tensors().keySet()) {
                if (key.startsWith("soft_codes_temp")) {
                    double temp = Double.parseDouble(key.substring("soft_codes_temp".length()));
                    NDList soft = vae.softCodes(io.get("z_e").toNDArray(m), temp, false, null);
                    close(stem, key, soft.get(0), io.get(key));
                    assertThat(soft.get(1).toLongArray()).containsExactly(io.get("codes").toLongs());
                }
            }
        }
        Path ema = dir.resolve(stem + ".ema-step.safetensors");
        assertThat(ema).as("%s: every rqvae fixture has its EMA-step file", stem).exists();
        checkEmaStep(config, weights, io, read(ema), stem);
    }

    /**
     * An RQ-Transformer fixture {@code rqtransformer-X}: built from its config, weights loaded by
     * official key, with the RQ-VAE fixture of the same suffix ({@code rqvae-X}, same directory)
     * as the code-embedding source. Checks the eval-mode logits, the hard-target loss and every
     * {@code loss_soft_tempT} (soft codes of the RQ-VAE's z_e at temperature T).
     */
    static void checkRqTransformer(Path dir, String stem) throws IOException {
        String vaeStem = "rqvae" + stem.substring("rqtransformer".length());
        Path vaeCfg = dir.resolve(vaeStem + ".config.json");
        assertThat(vaeCfg).as("%s needs its code-embedding source %s", stem, vaeCfg).exists();
        VaeConfig vaeConfig = Configs.readOfficialVae(Configs.readTree(vaeCfg));
        TransformerConfig config = TransformerConfig.readOfficial(Configs.readTree(dir.resolve(stem + ".config.json")));
        config.checkCompatible(vaeConfig);
        SafeTensors.Contents vaeWeights = read(dir.resolve(vaeStem + ".weights.safetensors"));
        SafeTensors.Contents vaeIo = read(dir.resolve(vaeStem + ".io.safetensors"));
        SafeTensors.Contents weights = read(dir.resolve(stem + ".weights.safetensors"));
        SafeTensors.Contents io = read(dir.resolve(stem + ".io.safetensors"));
        Engines.pytorch(2);
        try (NDManager m = Engines.newManager();
                RqVae vae = RqVae.fromStateDict(vaeConfig, vaeWeights.tensors(), m);
                RqTransformer model = RqTransformer.fromStateDict(config, weights.tensors(), m)) {
            assertThat(model.stateDict().keySet()).containsExactlyInAnyOrderElementsOf(weights.tensors().keySet());
            NDArray codes = io.get("codes").toNDArray(m);
            NDArray cond = io.get("cond").toNDArray(m);
            RqTransformer.Output out = model.forward(vae, codes, cond, null);
            close(stem, "logits", out.logits(), io.get("logits"));
            close(stem, "loss_hard", Losses.crossEntropy(out.logits(), codes), io.get("loss_hard"));
            int softChecked = 0;
            for (String key : io.tensors().keySet()) {
                if (key.startsWith("loss_soft_temp")) {
                    double temp = Double.parseDouble(key.substring("loss_soft_temp".length()));
                    NDList soft = vae.softCodes(vaeIo.get("z_e").toNDArray(m), temp, false, null);
                    close(stem, key, Losses.softCrossEntropy(out.logits(), soft.get(0)), io.get(key));
                    softChecked++;
                }
            }
            assertThat(softChecked).as("%s soft-target losses", stem).isPositive();
        }
    }

    /** One train-mode quantizer call on z_e, restarts off (as the fixture was made). */
    static void checkEmaStep(VaeConfig config, SafeTensors.Contents weights, SafeTensors.Contents io,
            SafeTensors.Contents after, String stem) {
        var h = config.hparams();
        VaeConfig noRestart = new VaeConfig(config.ddconfig(), new dev.rq.model.config.QuantizerConfig(
                h.embedDim(), h.nEmbed(), h.decay(), h.lossType(), h.latentLossWeight(), h.bottleneckType(),
                h.latentShape(), h.codeShape(), h.sharedCodebook(), false, h.eps(), h.restartThreshold(),
                h.greenMagentaLossWeight(), h.checkpointing()));
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.fromStateDict(noRestart, weights.tensors(), m)) {
            vae.quantizer().quantize(io.get("z_e").toNDArray(m), true, Collective.local(), new Rng(0));
            var state = vae.stateDict();
            close(stem, "ema-step codebook_after", state.get("quantizer.codebooks.0.weight").toNDArray(m),
                    after.get("codebook_after"));
            close(stem, "ema-step cluster_size_ema_after",
                    state.get("quantizer.codebooks.0.cluster_size_ema").toNDArray(m), after.get("cluster_size_ema_after"));
            close(stem, "ema-step embed_ema_after", state.get("quantizer.codebooks.0.embed_ema").toNDArray(m),
                    after.get("embed_ema_after"));
        }
    }

    static void close(String stem, String name, NDArray actual, HostTensor expected) {
        float[] a = actual.toFloatArray();
        float[] e = expected.toFloats();
        assertThat(actual.getShape().size()).as("%s %s size", stem, name).isEqualTo(e.length);
        long[] eshape = expected.shape();
        if (!(eshape.length == 1 && eshape[0] == 1 && a.length == 1)) {
            assertThat(actual.getShape().getShape()).as("%s %s shape", stem, name).containsExactly(eshape);
        }
        double num = 0;
        double den = 0;
        for (int i = 0; i < a.length; i++) {
            double d = a[i] - e[i];
            num += d * d;
            den += (double) e[i] * e[i];
        }
        double rel = Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
        assertThat(rel).as("%s %s relative error (shape %s)", stem, name, Arrays.toString(eshape))
                .isLessThanOrEqualTo(REL_TOL);
    }
}
