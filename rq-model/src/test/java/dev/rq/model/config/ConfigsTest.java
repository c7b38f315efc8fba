package dev.rq.model.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rq.model.Repo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class ConfigsTest {

    static Stream<Path> shippedConfigs() throws IOException {
        return Files.list(Repo.conf("rqvae")).filter(p -> p.toString().endsWith(".yaml")).sorted();
    }

    @ParameterizedTest
    @MethodSource("shippedConfigs")
    void everyShippedConfigLoads(Path file) throws IOException {
        RqVaeRunConfig c = Configs.loadRqVae(file, List.of());
        assertThat(c.model().hparams().depth()).isPositive();
        // canonical JSON round-trips to an equal record with an equal hash
        RqVaeRunConfig back = Configs.fromJson(Configs.toCanonicalJson(c), RqVaeRunConfig.class);
        assertThat(back).isEqualTo(c);
        assertThat(Configs.hash(back)).isEqualTo(Configs.hash(c));
    }

    @Test
    void officialImageNetShapes() throws IOException {
        VaeConfig m = Configs.loadRqVae(Repo.conf("rqvae/in256-8x8x4.yaml"), List.of()).model();
        assertThat(m.ddconfig().latentSize()).isEqualTo(8);
        assertThat(m.hparams().codebookSize(0)).isEqualTo(16384);
    }

    @Test
    void officialSettingsThatAreNotImplementedAreRejectedNamingTheKey() throws IOException {
        Path tiny = Repo.conf("rqvae/tiny.yaml");
        // training rejects it; an existing checkpoint's config that has it still reads (eval, tokenize, decode)
        QuantizerConfig withFlag = Configs.loadRqVae(tiny, List.of("model.hparams.checkpointing=true")).model()
                .hparams();
        assertThat(withFlag.checkpointing()).isTrue();
        assertThatThrownBy(withFlag::checkTrainable)
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.hparams.checkpointing:")
                .hasMessageContaining("not implemented");
        assertThat(Configs.fromJson(Configs.toCanonicalJson(Configs.loadRqVae(tiny,
                List.of("model.hparams.checkpointing=true"))), RqVaeRunConfig.class).model().hparams().checkpointing())
                .isTrue();
        assertThat(Configs.loadRqVae(tiny, List.of("model.hparams.checkpointing=false")).model().hparams()
                .checkpointing()).isFalse();
        // an official file keeps its flag: importing it reads the model and drops the training-only setting
        com.fasterxml.jackson.databind.node.ObjectNode official = (com.fasterxml.jackson.databind.node.ObjectNode)
                Configs.toTree(Configs.loadRqVae(tiny, List.of()).model());
        ((com.fasterxml.jackson.databind.node.ObjectNode) official.get("hparams")).put("checkpointing", true);
        com.fasterxml.jackson.databind.node.ObjectNode file = com.fasterxml.jackson.databind.node.JsonNodeFactory
                .instance.objectNode();
        file.set("arch", official);
        assertThat(Configs.readOfficialVae(file).hparams().checkpointing()).isFalse();
        assertThat(official.get("hparams").get("checkpointing").asBoolean()).as("the caller's tree is untouched").isTrue();
    }

    @Test
    void overridesAreTypedAndChecked() throws IOException {
        Path tiny = Repo.conf("rqvae/tiny.yaml");
        RqVaeRunConfig c = Configs.loadRqVae(tiny, List.of("train.lr=2e-4", "model.hparams.n_embed=128",
                "train.betas=[0.9, 0.95]"));
        assertThat(c.train().lr()).isEqualTo(2e-4);
        assertThat(c.model().hparams().codebookSize(0)).isEqualTo(128);
        assertThat(c.train().betas()).containsExactly(0.9, 0.95);
        assertThat(Configs.hash(c)).isNotEqualTo(Configs.hash(Configs.loadRqVae(tiny, List.of())));
        assertThatThrownBy(() -> Configs.loadRqVae(tiny, List.of("train.lrr=1")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("train.lrr").hasMessageContaining("unknown key");
        assertThatThrownBy(() -> Configs.loadRqVae(tiny, List.of("train.batch_size=abc")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("train.batch_size");
        assertThatThrownBy(() -> Configs.loadRqVae(tiny, List.of("train.lr=-1")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("train.lr:");
        assertThat(Configs.loadRqVae(tiny, List.of()).train().allreduceBucketMb()).isEqualTo(25.0);
        for (String bad : List.of("0", "-1", "9000")) {
            assertThatThrownBy(() -> Configs.loadRqVae(tiny, List.of("train.allreduce_bucket_mb=" + bad)))
                    .isInstanceOf(ConfigException.class).hasMessageStartingWith("train.allreduce_bucket_mb:");
        }
        assertThat(Configs.loadRqVae(tiny, List.of()).train().shardOptimizerState()).isFalse();
        assertThat(Configs.loadRqVae(tiny, List.of("train.shard_optimizer_state=true")).train().shardOptimizerState())
                .isTrue();
        for (String bad : List.of("maybe", "yes please")) {
            assertThatThrownBy(() -> Configs.loadRqVae(tiny, List.of("train.shard_optimizer_state=" + bad)))
                    .isInstanceOf(ConfigException.class).hasMessageContaining("train.shard_optimizer_state");
        }
        // train.allreduce_order: auto (tree where N workers give one worker's bits: L = 1 or N a power of two)
        TrainConfig auto = Configs.loadRqVae(tiny, List.of("train.batch_size=12", "train.micro_batch_size=1")).train();
        assertThat(auto.allreduceOrder()).isEqualTo("auto");
        assertThat(auto.treeAllReduce(1)).isFalse(); // nothing to reduce
        assertThat(auto.treeAllReduce(3)).isFalse(); // L = 4, N = 3: no order is exact, the ring's is cheaper
        assertThat(auto.treeAllReduce(12)).isTrue(); // L = 1
        assertThat(auto.treeAllReduce(4)).isTrue(); // L = 3, N a power of two
        assertThat(auto.treeAllReduce(2)).isTrue();
        assertThat(auto.treeAllReduce(6)).isFalse(); // L = 2, N = 6: likewise
        TrainConfig ring = Configs.loadRqVae(tiny, List.of("train.allreduce_order=ring")).train();
        assertThat(ring.treeAllReduce(4)).isFalse();
        assertThat(Configs.loadRqVae(tiny, List.of("train.allreduce_order=tree", "train.batch_size=12",
                "train.micro_batch_size=1")).train().treeAllReduce(6)).isTrue();
        for (String bad : List.of("fast", "TREE")) {
            assertThatThrownBy(() -> Configs.loadRqVae(tiny, List.of("train.allreduce_order=" + bad)))
                    .isInstanceOf(ConfigException.class).hasMessageStartingWith("train.allreduce_order:");
        }
        assertThatThrownBy(() -> Configs.loadRqVae(tiny, List.of("noequals")))
                .isInstanceOf(ConfigException.class);
    }

    @Test
    void booleanKeysTakeTrueOrFalseOnly(@TempDir Path dir) throws IOException {
        Path tiny = Repo.conf("rqvae/tiny.yaml");
        // --set: YAML booleans are accepted
        for (String yes : List.of("true", "True", "TRUE")) {
            assertThat(Configs.loadRqVae(tiny, List.of("train.shard_optimizer_state=" + yes)).train()
                    .shardOptimizerState()).as(yes).isTrue();
        }
        for (String no : List.of("false", "False", "FALSE")) {
            assertThat(Configs.loadRqVae(tiny, List.of("train.shard_optimizer_state=" + no)).train()
                    .shardOptimizerState()).as(no).isFalse();
        }
        // numbers and strings were coerced by Jackson (2 and 1 as true, 0 and "false" as false): now refused
        java.util.Map<String, String> bad = new java.util.LinkedHashMap<>();
        bad.put("2", "2");
        bad.put("1", "1");
        bad.put("0", "0");
        bad.put("1.0", "1.0");
        bad.put("'true'", "'true'");
        bad.put("\"false\"", "'false'");
        bad.put("maybe", "'maybe'");
        bad.put("[true]", "[true]");
        for (var e : bad.entrySet()) {
            assertThatThrownBy(() -> Configs.loadRqVae(tiny, List.of("train.shard_optimizer_state=" + e.getKey())))
                    .as(e.getKey()).isInstanceOf(ConfigException.class)
                    .hasMessage("train.shard_optimizer_state: expected true or false, got " + e.getValue());
        }
        // every boolean key, in a YAML file: a nested model key, a data key, a train key
        String text = Files.readString(tiny);
        for (String[] c : new String[][] {{"shared_codebook: true", "shared_codebook: 1", "model.hparams.shared_codebook", "1"},
                {"double_z: false", "double_z: 0", "model.ddconfig.double_z", "0"},
                {"hflip: true", "hflip: 'yes'", "data.hflip", "'yes'"},
                {"seed: 0", "seed: 0\n  shard_optimizer_state: 2", "train.shard_optimizer_state", "2"}}) {
            assertThat(text).contains(c[0]);
            Path f = dir.resolve(c[2] + ".yaml");
            Files.writeString(f, text.replace(c[0], c[1]));
            assertThatThrownBy(() -> Configs.loadRqVae(f, List.of())).as(c[2]).isInstanceOf(ConfigException.class)
                    .hasMessage(c[2] + ": expected true or false, got " + c[3]);
        }
        // the stage-2 config's boolean keys too
        assertThatThrownBy(() -> TransformerRunConfig.load(Repo.conf("rqtransformer/tiny.yaml"),
                List.of("model.body.block.mlp_bias=1"))).isInstanceOf(ConfigException.class)
                .hasMessage("model.body.block.mlp_bias: expected true or false, got 1");
        // null is the default, as an absent key
        assertThat(Configs.loadRqVae(tiny, List.of("train.shard_optimizer_state=null")).train().shardOptimizerState())
                .isFalse();
    }

    @Test
    void impossibleShapesNameTheKey(@TempDir Path dir) throws IOException {
        Path tiny = Repo.conf("rqvae/tiny.yaml");
        assertThatThrownBy(() -> Configs.loadRqVae(tiny, List.of("model.ddconfig.resolution=17")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.ddconfig.resolution:");
        assertThatThrownBy(() -> Configs.loadRqVae(tiny, List.of("model.ddconfig.ch=48")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.ddconfig.ch:");
        assertThatThrownBy(() -> Configs.loadRqVae(tiny, List.of("model.hparams.code_shape=[4, 4, 4]")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("model.hparams");
        assertThatThrownBy(() -> Configs.loadRqVae(tiny, List.of("model.hparams.latent_shape=[4, 4, 16]",
                        "model.hparams.code_shape=[4, 4, 4]")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.hparams.latent_shape:");
        assertThatThrownBy(() -> Configs.loadRqVae(tiny, List.of("train.grad_accum_steps=3")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("train.grad_accum_steps:");
        Path bad = dir.resolve("bad.yaml");
        Files.writeString(bad, "model:\n  ddconfig:\n    ch: 32\n  hparams:\n    embed_dim: 4\n");
        assertThatThrownBy(() -> Configs.loadRqVae(bad, List.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("required key is missing");
        Files.writeString(bad, "model:\n  ddconfig:\n    chh: 32\n");
        assertThatThrownBy(() -> Configs.loadRqVae(bad, List.of()))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.ddconfig.chh:");
    }
}
