package dev.rq.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.engine.Engines;
import dev.rq.model.vae.RqVae;
import dev.rq.model.vae.VaeCheckpoint;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HadoopDirTest {

    @TempDir Path tmp;

    @Test
    void writesAtomicallyAndReplaces() throws Exception {
        HadoopDir dir = new HadoopDir(tmp.resolve("a/b").toUri().toString(), new Configuration());
        assertThat(dir.exists("x.txt")).isFalse();
        OutputStream out = dir.create("x.txt");
        out.write("one".getBytes(StandardCharsets.UTF_8));
        assertThat(dir.exists("x.txt")).as("not visible before close").isFalse();
        out.close();
        out.close(); // idempotent
        assertThat(Files.readString(tmp.resolve("a/b/x.txt"))).isEqualTo("one");
        try (OutputStream o2 = dir.create("x.txt")) {
            o2.write("two".getBytes(StandardCharsets.UTF_8));
        }
        try (var in = dir.open("x.txt")) {
            assertThat(new String(in.readAllBytes(), StandardCharsets.UTF_8)).isEqualTo("two");
        }
        try (var files = Files.list(tmp.resolve("a/b"))) {
            assertThat(files.map(p -> p.getFileName().toString()).filter(n -> n.contains(".tmp-")).toList())
                    .isEmpty();
        }
        assertThat(dir.uri()).startsWith("file:");
        assertThatThrownBy(() -> dir.create("../evil")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void checkpointRoundTripAndCorruptionDetected() throws Exception {
        RqVaeRunConfig config = Configs.loadRqVae(
                Path.of(System.getProperty("rq.repo.dir", "..")).resolve("conf/rqvae/tiny.yaml"), List.of());
        Engines.pytorch(1);
        String uri = tmp.resolve("ckpt").toString(); // plain path, default file system
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(config.model(), m, 7)) {
            VaeCheckpoint.save(HadoopDir.of(uri), vae, config, 0, null, null);
            try (NDManager m2 = Engines.newManager()) {
                VaeCheckpoint.Loaded loaded = VaeCheckpoint.load(HadoopDir.of(uri), m2);
                assertThat(loaded.config()).isEqualTo(config);
                assertThat(loaded.vae().stateDict().keySet()).isEqualTo(vae.stateDict().keySet());
            }
        }
        byte[] b = Files.readAllBytes(tmp.resolve("ckpt/model.safetensors"));
        b[b.length - 1] ^= 1;
        Files.write(tmp.resolve("ckpt/model.safetensors"), b);
        Files.deleteIfExists(tmp.resolve("ckpt/.model.safetensors.crc"));
        try (NDManager m3 = Engines.newManager()) {
            assertThatThrownBy(() -> VaeCheckpoint.load(HadoopDir.of(uri), m3))
                    .isInstanceOf(CheckpointException.class).hasMessageContaining("SHA-256");
        }
    }
}
