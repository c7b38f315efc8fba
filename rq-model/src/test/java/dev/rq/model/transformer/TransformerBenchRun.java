package dev.rq.model.transformer;

import dev.rq.model.bench.TransformerBench;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Runs the bench64 transformer benchmark when {@code -Drq.bench=true} (not part of the normal suite). */
class TransformerBenchRun {

    @Test
    void bench64() throws Exception {
        Assumptions.assumeTrue(Boolean.getBoolean("rq.bench"), "set -Drq.bench=true");
        String ov = System.getProperty("rq.bench.set", "");
        Stage2.Run run = Stage2.load(System.getProperty("rq.bench.config", "bench64"),
                ov.isBlank() ? List.of() : List.of(ov.split(",")));
        var s = TransformerBench.Settings.standard();
        var r = TransformerBench.run(run.config(), run.vae(), new TransformerBench.Settings(Integer.getInteger("rq.bench.threads", s.threads()), s.batch(),
                s.warmup(), s.maxWarmupSeconds(), Integer.getInteger("rq.bench.iters", s.minIters()),
                Double.parseDouble(System.getProperty("rq.bench.seconds", "10")), s.topK(), s.topP()));
        System.out.println("BENCH " + r);
    }
}
