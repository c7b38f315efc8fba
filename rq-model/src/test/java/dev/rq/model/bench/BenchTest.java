package dev.rq.model.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rq.model.Repo;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.engine.Precision;
import dev.rq.model.transformer.Stage2;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The benchmarks run on the tiny models and report every key, per precision, with the bf16 guards. */
class BenchTest {

    private static List<Precision> precisions() {
        if (!Precision.cpuHasBf16()) {
            System.out.println("BenchTest: this CPU has no bfloat16 units: bf16 keys not checked");
            return List.of(Precision.FP32);
        }
        return List.of(Precision.FP32, Precision.BF16);
    }

    @Test
    void vaeBenchReportsBothPrecisionsAndTheGuards() throws Exception {
        RqVaeRunConfig c = Configs.loadRqVae(Repo.conf("rqvae/tiny.yaml"), List.of());
        List<Precision> ps = precisions();
        Map<String, Object> r = VaeBench.run(c, new VaeBench.Settings(1, 4, 0, 1, 0), ps);
        for (Precision p : ps) {
            String sfx = p == Precision.FP32 ? "" : "_" + p.id();
            for (String k : List.of("tokenize" + sfx + "_img_per_s", "vae_train" + sfx + "_img_per_s",
                    "encode" + sfx + "_ms", "train" + sfx + "_backward_ms")) {
                assertThat((Double) r.get(k)).as(k).isPositive();
            }
        }
        if (ps.size() == 2) {
            assertThat((Double) r.get("tokenize_bf16_code_agreement")).isBetween(0.9, 1.0);
            assertThat((Double) r.get("decode_bf16_rel_error")).isBetween(1e-5, 0.05);
        }
    }

    @Test
    void transformerBenchReportsBothPrecisionsAndTheGuard() throws Exception {
        Stage2.Run run = Stage2.load("tiny", List.of());
        List<Precision> ps = precisions();
        Map<String, Object> r = TransformerBench.run(run.config(), run.vae(),
                new TransformerBench.Settings(1, 4, 0, 1, 0, 8, 0.95), ps);
        for (Precision p : ps) {
            String sfx = p == Precision.FP32 ? "" : "_" + p.id();
            assertThat((Double) r.get("transformer_train" + sfx + "_img_per_s")).isPositive();
            assertThat((Double) r.get("sample" + sfx + "_img_per_s")).isPositive();
        }
        if (ps.size() == 2) {
            assertThat((Double) r.get("transformer_bf16_logit_rel_error")).isBetween(1e-5, 0.05);
        }
    }
}
