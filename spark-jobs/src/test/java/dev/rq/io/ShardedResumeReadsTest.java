package dev.rq.io;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.checkpoint.Checkpoints;
import dev.rq.model.checkpoint.Manifest;
import dev.rq.model.engine.Engines;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.safetensors.TensorData;
import dev.rq.model.train.Adam;
import dev.rq.model.train.OptimizerShards;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A sharded resume reads through the Hadoop FileSystem only the header and the moments its rank owns
 * ({@code Checkpoints.Loaded#optimizerSource} with {@link HadoopDir#openPositioned}: ranged reads),
 * not the whole {@code optimizer.safetensors}: bytes read per rank counted by the file system's
 * per-thread statistics of the raw local file system (each rank restored in turn on the test thread):
 * N = 1 reads the whole file (verified); with N = 2 and 3 each rank reads exactly the header and its
 * own moments, all ranks together the file once; every rank's restored moments equal the file's bit
 * for bit. Before ranged reads every rank read the whole file.
 */
class ShardedResumeReadsTest {

    /** Parameter shapes: ~1.3 MB of float32 per moment, so the header is small beside any share. */
    private static final long[][] SHAPES = {{512, 256}, {256}, {256, 256}, {1000}, {256, 512}, {3000}, {7}};

    @Test
    void eachRankReadsTheHeaderAndItsOwnMomentsOnly(@TempDir Path tmp) throws Exception {
        Engines.pytorch(1);
        Map<String, HostTensor> file = new LinkedHashMap<>();
        Random rnd = new Random(3);
        long[] sizes = new long[SHAPES.length];
        for (int k = 0; k < SHAPES.length; k++) {
            sizes[k] = java.util.Arrays.stream(SHAPES[k]).reduce(1, (a, b) -> a * b);
            for (String moment : List.of("exp_avg.", "exp_avg_sq.")) {
                ByteBuffer b = ByteBuffer.allocate((int) sizes[k] * 4).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < sizes[k]; i++) {
                    b.putFloat(rnd.nextFloat());
                }
                file.put(moment + "p" + k, new HostTensor(HostTensor.Dtype.F32, SHAPES[k], b.array()));
            }
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        SafeTensors.write(file, Map.of("format", "test"), bytes);
        // the raw local file system: no checksum side files, so the counts are the file's bytes (as on s3a)
        Configuration conf = new Configuration();
        conf.setClass("fs.file.impl", RawLocalFileSystem.class, FileSystem.class);
        conf.setBoolean("fs.file.impl.disable.cache", true);
        HadoopDir dir = new HadoopDir(tmp.resolve("ckpt").toUri().toString(), conf);
        try (OutputStream out = dir.create(Checkpoints.OPTIMIZER)) {
            bytes.writeTo(out);
        }
        long length = bytes.size();
        Manifest manifest = new Manifest(Checkpoints.FORMAT, Checkpoints.FORMAT_VERSION, "test", null, null, 2, 0,
                Map.of(Checkpoints.MODEL, new Manifest.FileEntry("", 0),
                        Checkpoints.OPTIMIZER, new Manifest.FileEntry(Checkpoints.sha256(bytes.toByteArray()), length)),
                Map.of(), "");
        Checkpoints.Loaded loaded = new Checkpoints.Loaded(dir, manifest);
        long header = 8 + ByteBuffer.wrap(bytes.toByteArray(), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();

        for (int n = 1; n <= 3; n++) {
            int[] owners = OptimizerShards.owners(sizes, n);
            long total = 0;
            for (int rank = 0; rank < n; rank++) {
                long own = 0;
                Set<String> mine = new HashSet<>();
                for (int k = 0; k < SHAPES.length; k++) {
                    if (owners[k] == rank) {
                        mine.add("p" + k);
                        own += 2 * sizes[k] * 4;
                    }
                }
                long before = bytesRead();
                Map<String, byte[]> restored = restore(loaded, mine);
                long read = bytesRead() - before;
                total += read;
                System.out.printf("N=%d rank %d: read %,d bytes of a %,d-byte file (header %,d, own moments %,d)%n",
                        n, rank, read, length, header, own);
                assertThat(restored.keySet()).hasSize(2 * mine.size());
                restored.forEach((name, data) -> assertThat(data).as("%s", name).isEqualTo(file.get(name).data()));
                if (n == 1) {
                    assertThat(read).as("unsharded: the whole file, verified").isGreaterThanOrEqualTo(length);
                } else {
                    assertThat(read).as("N=%d rank %d: the header and its own moments, nothing else", n, rank)
                            .isEqualTo(header + own);
                }
            }
            if (n > 1) {
                assertThat(total).as("N=%d: all ranks together read the file once, the header N times", n)
                        .isEqualTo(length + (n - 1) * header);
            }
        }
    }

    /** Restores an Adam over all {@link #SHAPES} that owns {@code mine}; @return its moments' bytes by name. */
    private static Map<String, byte[]> restore(Checkpoints.Loaded loaded, Set<String> mine) throws IOException {
        try (NDManager m = Engines.newManager()) {
            Map<String, NDArray> params = new LinkedHashMap<>();
            for (int k = 0; k < SHAPES.length; k++) {
                params.put("p" + k, m.zeros(new Shape(SHAPES[k])));
            }
            Adam adam = new Adam(params, mine::contains, m, 0.9, 0.999, 1e-8, 0, false);
            Adam.restore(loaded.optimizerSource(), 2, adam);
            Map<String, byte[]> out = new LinkedHashMap<>();
            for (Map.Entry<String, TensorData> e : adam.state().entrySet()) {
                ByteArrayOutputStream b = new ByteArrayOutputStream();
                e.getValue().writeTo(b);
                out.put(e.getKey(), b.toByteArray());
            }
            return out;
        }
    }

    /** @return bytes this thread read through the local file systems ({@code file:} statistics) */
    private static long bytesRead() {
        long sum = 0;
        for (FileSystem.Statistics s : FileSystem.getAllStatistics()) {
            if ("file".equals(s.getScheme())) {
                sum += s.getThreadStatistics().getBytesRead();
            }
        }
        return sum;
    }
}
