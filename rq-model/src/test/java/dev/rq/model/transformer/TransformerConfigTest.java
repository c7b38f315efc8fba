package dev.rq.model.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rq.model.Fixtures;
import dev.rq.model.Repo;
import dev.rq.model.config.ConfigException;
import dev.rq.model.config.Configs;
import dev.rq.model.config.TransformerConfig;
import dev.rq.model.config.TransformerRunConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class TransformerConfigTest {

    @Test
    void everyConfFileLoadsAndMatchesItsRqVae() throws Exception {
        try (Stream<Path> s = Files.list(Repo.conf("rqtransformer"))) {
            List<Path> files = s.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
            assertThat(files).hasSizeGreaterThanOrEqualTo(5);
            for (Path f : files) {
                TransformerRunConfig c = TransformerRunConfig.load(f, List.of());
                var vae = Configs.loadRqVae(c.vaeConfigPath(f), List.of()).model();
                c.model().checkCompatible(vae);
                assertThat(c.train().betas()).as(f.toString()).containsExactly(0.9, 0.95);
                assertThat(c.train().weightDecay()).as(f.toString()).isEqualTo(1e-4);
                // canonical JSON round trip (the checkpoint manifest form)
                TransformerRunConfig back = TransformerRunConfig.bind(Configs.toTree(c));
                assertThat(Configs.hash(back)).isEqualTo(Configs.hash(c));
            }
        }
    }

    @Test
    void releasedSizesMatchTheReadme() throws Exception {
        assertThat(count("in256-480M")).isEqualTo(480_921_088L);
        assertThat(count("in256-821M")).isEqualTo(820_899_328L);
        assertThat(count("in256-1.4B")).isEqualTo(1_387_529_728L);
    }

    private static long count(String name) throws Exception {
        return RqTransformer.parameterCount(
                TransformerRunConfig.load(Repo.conf("rqtransformer/" + name + ".yaml"), List.of()).model());
    }

    @Test
    void stage2DefaultsFillMissingTrainKeys() throws Exception {
        var tree = Configs.readTree(Repo.conf("rqtransformer/bench64.yaml"));
        ((com.fasterxml.jackson.databind.node.ObjectNode) tree).remove("train");
        TransformerRunConfig c = TransformerRunConfig.bind(tree);
        assertThat(c.train().lr()).isEqualTo(5e-4);
        assertThat(c.train().betas()).containsExactly(0.9, 0.95);
        assertThat(c.train().gradClipNorm()).isEqualTo(1.0);
        assertThat(c.train().schedule()).isEqualTo("cosine");
    }

    @Test
    void errorsNameTheKey() {
        Path f = Repo.conf("rqtransformer/tiny.yaml");
        assertThatThrownBy(() -> TransformerRunConfig.load(f, List.of("model.body.block.n_head=3")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.body.block.n_head:");
        assertThatThrownBy(() -> TransformerRunConfig.load(f, List.of("model.head.block.gelu=v3")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.head.block.gelu:");
        assertThatThrownBy(() -> TransformerRunConfig.load(f, List.of("model.head.block.bogus=1")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.head.block.bogus:");
        assertThatThrownBy(() -> TransformerRunConfig.load(f, List.of("model.vocab_size=[1, 2]")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.vocab_size:");
        assertThatThrownBy(() -> TransformerRunConfig.load(f, List.of("model.input_emb_vqvae=false")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.input_emb_vqvae:");
        assertThatThrownBy(() -> TransformerRunConfig.load(f, List.of("sampling.top_p=1.5")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("sampling.top_p:");
        assertThatThrownBy(() -> TransformerRunConfig.load(f, List.of("loss.type=l2")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("loss.type:");
        // the official weight EMA is not implemented: asking for it fails instead of being ignored
        assertThatThrownBy(() -> TransformerRunConfig.load(f, List.of("model.ema=0.9999")))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("model.ema:")
                .hasMessageContaining("not implemented");
    }

    @Test
    void incompatibleRqVaeIsNamed() throws Exception {
        Path f = Repo.conf("rqtransformer/tiny.yaml");
        TransformerRunConfig c = TransformerRunConfig.load(f, List.of("model.vocab_size=64"));
        var vae = Configs.loadRqVae(c.vaeConfigPath(f), List.of()).model();
        assertThatThrownBy(() -> c.model().checkCompatible(vae)).isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("model.vocab_size:");
    }

    @Test
    void readsTheOfficialOmegaConfDump() throws Exception {
        Path dir = Fixtures.repoDir();
        TransformerConfig c = TransformerConfig.readOfficial(Configs.readTree(dir.resolve("rqtransformer-a.config.json")));
        assertThat(c.embedDim()).isEqualTo(64);
        assertThat(c.body().nLayer()).isEqualTo(2);
        assertThat(c.head().nLayer()).isEqualTo(1);
        assertThat(c.vocabSize()).containsExactly(64, 64, 64, 64);
        assertThat(c.condVocab()).isEqualTo(10);
        assertThat(c.body().block().residPdrop()).isEqualTo(0.1);
        // an official file with the trainer's weight EMA on is read for its architecture (import)
        com.fasterxml.jackson.databind.node.ObjectNode withEma = (com.fasterxml.jackson.databind.node.ObjectNode)
                Configs.readTree(dir.resolve("rqtransformer-a.config.json"));
        withEma.put("ema", 0.9999);
        assertThat(TransformerConfig.readOfficial(withEma)).isEqualTo(c);
    }
}
