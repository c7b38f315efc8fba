package dev.rq.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rq.jobs.tokenize.TokenFixtures;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.checkpoint.LocalDir;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.TransformerRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.safetensors.TensorData;
import dev.rq.model.transformer.RqTransformer;
import dev.rq.model.transformer.TransformerCheckpoint;
import dev.rq.model.vae.RqVae;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code rq import-official} for both stages, through the real command line: official-layout
 * state dicts and configs written by Java, imported, loaded and compared tensor by tensor.
 */
class ImportOfficialTest {

    static final ObjectMapper JSON = new ObjectMapper();

    /** Runs {@code rq args…} in-process; @return exit code and the error stream */
    static String[] rq(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int rc = RqCli.commandLine(new PrintWriter(out, true), new PrintWriter(err, true)).execute(args);
        return new String[] {Integer.toString(rc), err.toString()};
    }

    /** An official stage-1 config ({@code arch: {ddconfig, hparams}}) for our run config's model. */
    static ObjectNode officialVaeConfig(RqVaeRunConfig run) {
        ObjectNode root = JSON.createObjectNode();
        root.set("arch", Configs.toTree(run.model()));
        return root;
    }

    /** Writes {@code tensors} as {@code st.save_file} does: keys sorted, F32 (or F16 when {@code half}). */
    static void writeOfficial(Map<String, ? extends TensorData> tensors, Path file) throws Exception {
        try (OutputStream out = Files.newOutputStream(file)) {
            SafeTensors.write(new TreeMap<>(tensors), Map.of("format", "pt"), out);
        }
    }

    /** Stage 1 then stage 2 of the tiny configs: import, reload, every tensor equal, shapes checked. */
    @Test
    void importsBothStagesAndRefusesMismatches(@TempDir Path tmp) throws Exception {
        RqVaeRunConfig vaeRun = TokenFixtures.tinyConfig();
        TransformerRunConfig run = TransformerRunConfig.load(TokenFixtures.repo().resolve("conf/rqtransformer/tiny.yaml"),
                List.of());
        Engines.pytorch(2);
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(vaeRun.model(), m, 11);
                RqTransformer t = RqTransformer.create(run.model(), m, 12)) {
            // stage 1: official config + state dict -> checkpoint
            Files.writeString(tmp.resolve("vae.yaml"), JSON.writeValueAsString(officialVaeConfig(vaeRun)));
            writeOfficial(vae.stateTensors(), tmp.resolve("vae.safetensors"));
            String[] r = rq("import-official", "--config", tmp.resolve("vae.yaml").toString(), "--weights",
                    tmp.resolve("vae.safetensors").toString(), "--out", tmp.resolve("vae-ckpt").toString());
            assertThat(r[0]).as(r[1]).isEqualTo("0");

            // stage 2: a release-style config.yaml (arch + loss + sampling, one OmegaConf interpolation)
            ObjectNode official = JSON.createObjectNode();
            official.putObject("dataset").put("vocab_size", run.model().vocabSize().get(0));
            ObjectNode arch = (ObjectNode) Configs.toTree(run.model());
            arch.put("type", "rq-transformer");
            arch.put("vocab_size", "${dataset.vocab_size}");
            official.set("arch", arch);
            official.putObject("loss").put("type", "soft_target_cross_entropy").put("temp", 0.7)
                    .put("stochastic_codes", true);
            official.putObject("sampling").put("top_k", 8).put("top_p", 0.9);
            Files.writeString(tmp.resolve("config.yaml"), JSON.writeValueAsString(official));
            // float16 on disk (as a half-precision export would be): imported as float32
            writeOfficial(half(t.stateDict()), tmp.resolve("model.safetensors"));
            r = rq("import-official", "--config", tmp.resolve("config.yaml").toString(), "--weights",
                    tmp.resolve("model.safetensors").toString(), "--out", tmp.resolve("t-ckpt").toString(),
                    "--vae", tmp.resolve("vae-ckpt").toString());
            assertThat(r[0]).as(r[1]).isEqualTo("0");

            TransformerCheckpoint.Loaded back = TransformerCheckpoint.load(new LocalDir(tmp.resolve("t-ckpt")), m);
            assertThat(back.config().model()).isEqualTo(run.model());
            assertThat(back.config().loss().temp()).isEqualTo(0.7);
            assertThat(back.config().sampling().topK()).containsExactly(8);
            assertThat(back.config().vae().checkpoint()).endsWith("vae-ckpt");
            assertThat(back.checkpoint().manifest().step()).isZero();
            Map<String, HostTensor> expected = half(t.stateDict());
            for (String k : t.params().keys()) {
                assertThat(back.model().params().get(k).toFloatArray()).as(k)
                        .containsExactly(expected.get(k).toFloats());
            }
            // the float16 values are the originals to 10 mantissa bits
            float[] orig = t.params().get("pos_emb_hw").toFloatArray();
            float[] imported = back.model().params().get("pos_emb_hw").toFloatArray();
            for (int i = 0; i < orig.length; i++) {
                assertThat(imported[i]).isCloseTo(orig[i], org.assertj.core.data.Offset.offset(
                        Math.abs(orig[i]) / 1024 + 1e-4f));
            }
            RqVae vaeBack = dev.rq.model.vae.VaeCheckpoint.load(new LocalDir(tmp.resolve("vae-ckpt")), m).vae();
            for (String k : vae.params().keys()) {
                assertThat(vaeBack.params().get(k).toFloatArray()).as(k).containsExactly(vae.params().get(k).toFloatArray());
            }

            // a config that does not describe the weights: refused naming the first mismatching key
            ObjectNode wider = official.deepCopy();
            ((ObjectNode) wider.get("arch")).put("embed_dim", 48);
            ((ObjectNode) wider.get("arch").get("body").get("block")).put("embed_dim", 48);
            ((ObjectNode) wider.get("arch").get("head").get("block")).put("embed_dim", 48);
            Files.writeString(tmp.resolve("wider.yaml"), JSON.writeValueAsString(wider));
            r = rq("import-official", "--config", tmp.resolve("wider.yaml").toString(), "--weights",
                    tmp.resolve("model.safetensors").toString(), "--out", tmp.resolve("bad").toString(),
                    "--vae", tmp.resolve("vae-ckpt").toString());
            assertThat(r[0]).isEqualTo("2");
            assertThat(r[1]).contains("pos_emb_cond has shape [1, 1, 32] in the official state dict, but the config"
                    + " gives [1, 1, 48]");
            assertThat(Files.exists(tmp.resolve("bad").resolve(Checkpoints.MANIFEST))).isFalse();
            // a stage-2 import needs the RQ-VAE
            r = rq("import-official", "--config", tmp.resolve("config.yaml").toString(), "--weights",
                    tmp.resolve("model.safetensors").toString(), "--out", tmp.resolve("bad2").toString());
            assertThat(r[0]).isEqualTo("2");
            assertThat(r[1]).contains("--vae");
        }
    }

    /** The tensors truncated to float16 and stored as F16. */
    static Map<String, HostTensor> half(Map<String, HostTensor> f32) {
        Map<String, HostTensor> out = new java.util.LinkedHashMap<>();
        f32.forEach((k, t) -> {
            float[] v = t.toFloats();
            ByteBuffer b = ByteBuffer.allocate(v.length * 2).order(ByteOrder.LITTLE_ENDIAN);
            for (float x : v) {
                b.putShort(toHalf(x));
            }
            out.put(k, new HostTensor(HostTensor.Dtype.F16, t.shape(), b.array()));
        });
        return out;
    }

    /** float32 to float16 by truncating the mantissa (tiny values flush to zero; Java 17 has no converter). */
    static short toHalf(float f) {
        int b = Float.floatToIntBits(f);
        int sign = (b >>> 16) & 0x8000;
        int exp = ((b >>> 23) & 0xff) - 127 + 15;
        if (exp <= 0) {
            return (short) sign;
        }
        return (short) (sign | (Math.min(exp, 30) << 10) | ((b >>> 13) & 0x3ff));
    }

    static JsonNode tree(String json) throws Exception {
        return JSON.readTree(json);
    }
}
