package dev.rq.jobs.eval;

import dev.rq.model.metrics.InceptionV3;
import dev.rq.model.safetensors.SafeTensors;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Test inputs of the eval jobs: random FID Inception weights as a safetensors file. */
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
}
