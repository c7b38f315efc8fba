package dev.rq.model.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.safetensors.TensorData;
import dev.rq.model.safetensors.TensorSource;
import java.io.IOException;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint whose model file is over 2 GiB round-trips through the streaming writer and reader:
 * the tensors are generated while they are written and checked while they are read, one at a
 * time, so neither side ever holds the file (a per-file {@code byte[]} cannot exceed 2 GiB).
 */
class LargeCheckpointTest {

    private static final int TENSOR_FLOATS = 16 << 20; // 64 MiB each
    private static final int TENSORS = 34; // 2,176 MiB in all
    private static final long NEEDED_DISK = 5L << 30;

    /** Tensor {@code t}: int element i is {@code i * 0x9E3779B1 + t}, as float32 bits. */
    private static TensorData generated(int t) {
        return new TensorData() {
            @Override
            public HostTensor.Dtype dtype() {
                return HostTensor.Dtype.F32;
            }

            @Override
            public long[] shape() {
                return new long[] {TENSOR_FLOATS / 4096, 4096};
            }

            @Override
            public void writeTo(OutputStream out) throws IOException {
                ByteBuffer chunk = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < TENSOR_FLOATS; ) {
                    chunk.clear();
                    while (chunk.hasRemaining()) {
                        chunk.putInt(i++ * 0x9E3779B1 + t);
                    }
                    out.write(chunk.array(), 0, chunk.position());
                }
            }
        };
    }

    private static boolean matches(int t, byte[] data) {
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < TENSOR_FLOATS; i++) {
            if (b.getInt() != i * 0x9E3779B1 + t) {
                return false;
            }
        }
        return true;
    }

    @Test
    void aModelFileOverTwoGibRoundTripsStreaming(@TempDir Path dir) throws IOException {
        long free = Files.getFileStore(dir).getUsableSpace();
        if (free < NEEDED_DISK) {
            String reason = "skipped: " + dir + " has " + (free >> 20) + " MiB free, the >2 GiB checkpoint test needs "
                    + (NEEDED_DISK >> 20) + " MiB";
            System.out.println(reason);
            Assumptions.abort(reason);
        }
        Map<String, TensorData> model = new LinkedHashMap<>();
        for (int t = 0; t < TENSORS; t++) {
            model.put("blocks." + t + ".weight", generated(t));
        }
        model.put("step_counter", HostTensor.ofLongs(new long[] {7}, 1));
        LocalDir ckpt = new LocalDir(dir.resolve("big"));
        long t0 = System.nanoTime();
        Manifest m = Checkpoints.write(ckpt, new Checkpoints.Contents("synthetic", Map.of("what", "large"), 3, 1,
                model, null, null));
        long written = Files.size(ckpt.path().resolve(Checkpoints.MODEL));
        assertThat(written).isGreaterThan(1L << 31).isEqualTo(m.files().get(Checkpoints.MODEL).bytes());
        long t1 = System.nanoTime();

        Checkpoints.Loaded loaded = Checkpoints.read(ckpt); // verifies size and SHA-256, streaming
        long t2 = System.nanoTime();
        int[] seen = {0};
        loaded.modelSource().read(new TensorSource.Reader() {
            @Override
            public Predicate<String> begin(SafeTensors.Header header) {
                assertThat(header.keys()).hasSize(TENSORS + 1);
                return k -> true;
            }

            @Override
            public void tensor(String name, HostTensor t) {
                if (name.equals("step_counter")) {
                    assertThat(t.toLongs()).containsExactly(7);
                } else {
                    int i = Integer.parseInt(name.split("\\.")[1]);
                    assertThat(matches(i, t.data())).as(name).isTrue();
                }
                seen[0]++;
            }
        });
        assertThat(seen[0]).isEqualTo(TENSORS + 1);
        long t3 = System.nanoTime();
        System.out.printf("large checkpoint: %d MiB written in %.1f s, verified in %.1f s, streamed and checked in"
                + " %.1f s%n", written >> 20, (t1 - t0) / 1e9, (t2 - t1) / 1e9, (t3 - t2) / 1e9);

        // one flipped byte near the end of the big file: refused (after the streaming pass)
        try (RandomAccessFile f = new RandomAccessFile(ckpt.path().resolve(Checkpoints.MODEL).toFile(), "rw")) {
            f.seek(written - 3);
            int b = f.read();
            f.seek(written - 3);
            f.write(b ^ 1);
        }
        assertThatThrownBy(() -> Checkpoints.open(ckpt).model(k -> k.equals("step_counter")))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("SHA-256 of model.safetensors");
    }
}
