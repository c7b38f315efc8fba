package dev.rq.jobs.eval;

import dev.rq.model.metrics.InceptionV3;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.SafeTensors;
import dev.rq.model.util.Rng;
import java.util.LinkedHashMap;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Test inputs of the eval jobs: random FID Inception and LPIPS weights as safetensors files. */
final class EvalFixtures {

    private EvalFixtures() {}

    /** Writes random weights in the official layout (the real ones are never downloaded). */
    static Path randomInception(Path dir, long seed) throws IOException {
        Path p = dir.resolve("inception-random-" + seed + ".safetensors");
        try (OutputStream out = Files.newOutputStream(p)) {
            SafeTensors.write(InceptionV3.randomStateDict(seed), Map.of("format", "random test weights"), out);
        }
        return p;
    }

    /**
     * Writes random LPIPS weights in the official layout ({@code lpips.py}'s state dict): the official
     * scaling-layer constants, He-uniform VGG16 convolutions (torchvision {@code features} indices),
     * small biases, non-negative linear heads.
     */
    static Path randomLpips(Path dir, long seed) throws IOException {
        Rng rng = Rng.of(seed, 0x1B1B5);
        Map<String, HostTensor> w = new LinkedHashMap<>();
        w.put("scaling_layer.shift", HostTensor.ofFloats(new float[] {-.030f, -.088f, -.188f}, 1, 3, 1, 1));
        w.put("scaling_layer.scale", HostTensor.ofFloats(new float[] {.458f, .448f, .450f}, 1, 3, 1, 1));
        int[] channels = {64, 128, 256, 512, 512};
        int[][] convs = {{0, 2}, {5, 7}, {10, 12, 14}, {17, 19, 21}, {24, 26, 28}};
        int in = 3;
        for (int s = 0; s < convs.length; s++) {
            for (int i : convs[s]) {
                String p = "net.slice" + (s + 1) + "." + i;
                double bound = Math.sqrt(6.0 / (in * 9));
                w.put(p + ".weight", HostTensor.ofFloats(uniform(rng, channels[s] * in * 9, bound), channels[s], in, 3, 3));
                w.put(p + ".bias", HostTensor.ofFloats(uniform(rng, channels[s], 0.05), channels[s]));
                in = channels[s];
            }
        }
        for (int k = 0; k < channels.length; k++) {
            float[] head = uniform(rng, channels[k], 1.0 / channels[k]);
            for (int c = 0; c < head.length; c++) {
                head[c] = Math.abs(head[c]);
            }
            w.put("lin" + k + ".model.1.weight", HostTensor.ofFloats(head, 1, channels[k], 1, 1));
        }
        Path p = dir.resolve("lpips-random-" + seed + ".safetensors");
        try (OutputStream out = Files.newOutputStream(p)) {
            SafeTensors.write(w, Map.of("format", "random test weights"), out);
        }
        return p;
    }

    private static float[] uniform(Rng rng, int n, double bound) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (bound * (2 * rng.nextDouble() - 1));
        }
        return v;
    }
}
