package dev.rq.model.vae;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.Repo;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.checkpoint.LocalDir;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.train.VaeTrainer;
import dev.rq.model.util.SyntheticImages;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VaeCheckpointTest {

    @Test
    void roundTripKeepsEveryTensorAndTheOfficialKeys(@TempDir Path dir) throws Exception {
        RqVaeRunConfig c = Configs.loadRqVae(Repo.conf("rqvae/tiny.yaml"), List.of("train.batch_size=2"));
        Engines.pytorch(2);
        int res = c.model().ddconfig().resolution();
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(c.model(), m, 3)) {
            VaeTrainer t = new VaeTrainer(vae, c.train(), Collective.local());
            NDArray x = m.create(SyntheticImages.batch(2, res, 1), new Shape(2, 3, res, res));
            t.step(List.of(x));
            VaeCheckpoint.save(new LocalDir(dir), vae, c, t.step(), t.optimizerState(), null);
            // official layout: one copy of the shared codebook per depth
            try (InputStream in = Files.newInputStream(dir.resolve(Checkpoints.MODEL))) {
                Map<String, HostTensor> file = SafeTensors.read(in).tensors();
                assertThat(file).containsKeys("quantizer.codebooks.0.weight", "quantizer.codebooks.3.weight",
                        "encoder.conv_in.weight", "decoder.conv_out.bias", "quant_conv.weight", "post_quant_conv.bias");
                assertThat(file.get("quantizer.codebooks.3.embed_ema").data())
                        .isEqualTo(file.get("quantizer.codebooks.0.embed_ema").data());
            }
            VaeCheckpoint.Loaded back = VaeCheckpoint.load(new LocalDir(dir), m);
            assertThat(back.config()).isEqualTo(c);
            assertThat(back.checkpoint().manifest().step()).isEqualTo(1);
            assertThat(back.checkpoint().optimizer()).isNotNull();
            for (String k : vae.params().keys()) {
                assertThat(back.vae().params().get(k).toFloatArray()).as(k)
                        .containsExactly(vae.params().get(k).toFloatArray());
            }
            assertThat(back.vae().codes(x).toLongArray()).containsExactly(vae.codes(x).toLongArray());
        }
    }

    @Test
    void truncatedOrAlteredFilesAreRejected(@TempDir Path dir) throws Exception {
        RqVaeRunConfig c = Configs.loadRqVae(Repo.conf("rqvae/tiny.yaml"), List.of());
        Engines.pytorch(2);
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(c.model(), m, 3)) {
            VaeCheckpoint.save(new LocalDir(dir), vae, c, 0, null, null);
        }
        Path model = dir.resolve(Checkpoints.MODEL);
        byte[] good = Files.readAllBytes(model);
        try (NDManager m = Engines.newManager()) {
            try (RandomAccessFile f = new RandomAccessFile(model.toFile(), "rw")) {
                f.setLength(good.length - 100);
            }
            assertThatThrownBy(() -> VaeCheckpoint.load(new LocalDir(dir), m))
                    .isInstanceOf(CheckpointException.class).hasMessageContaining("truncated");
            byte[] flipped = good.clone();
            flipped[flipped.length - 5] ^= 1;
            Files.write(model, flipped);
            assertThatThrownBy(() -> VaeCheckpoint.load(new LocalDir(dir), m))
                    .isInstanceOf(CheckpointException.class).hasMessageContaining("SHA-256");
            Files.write(model, good);
            assertThat(VaeCheckpoint.load(new LocalDir(dir), m).vae()).isNotNull();
            Path manifest = dir.resolve(Checkpoints.MANIFEST);
            String text = Files.readString(manifest);
            Files.writeString(manifest, text.replace("\"format_version\" : 1", "\"format_version\" : 99"));
            assertThatThrownBy(() -> VaeCheckpoint.load(new LocalDir(dir), m))
                    .isInstanceOf(CheckpointException.class).hasMessageContaining("version 99");
            Files.delete(manifest);
            assertThatThrownBy(() -> VaeCheckpoint.load(new LocalDir(dir), m))
                    .isInstanceOf(CheckpointException.class).hasMessageContaining("no manifest.json");
        }
    }
}
