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
        Map<String, Object> r = VaeBench.run(c, new VaeBench.Settings(1, 4, 0, 1, 1, 0), ps);
        for (Precision p : ps) {
            String sfx = p == Precision.FP32 ? "" : "_" + p.id();
            for (String k : List.of("tokenize" + sfx + "_img_per_s", "vae_train" + sfx + "_img_per_s",
                    "encode" + sfx + "_ms", "train" + sfx + "_backward_ms")) {
                assertThat((Double) r.get(k)).as(k).isPositive();
            }
            assertJvmKeys(r, "tokenize" + sfx);
            assertJvmKeys(r, "vae_train" + sfx);
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
                new TransformerBench.Settings(1, 4, 0, 1, 1, 0, 8, 0.95), ps);
        for (Precision p : ps) {
            String sfx = p == Precision.FP32 ? "" : "_" + p.id();
            assertThat((Double) r.get("transformer_train" + sfx + "_img_per_s")).isPositive();
            assertThat((Double) r.get("sample" + sfx + "_img_per_s")).isPositive();
            assertJvmKeys(r, "transformer_train" + sfx);
            assertJvmKeys(r, "sample" + sfx);
        }
        if (ps.size() == 2) {
            assertThat((Double) r.get("transformer_bf16_logit_rel_error")).isBetween(1e-5, 0.05);
        }
    }

    /**
     * The warm-up (0 fixed calls, then until settled for at most 1 s: at least one call, and at least 2 to
     * judge it settled) and the JVM's work while timing.
     */
    private static void assertJvmKeys(Map<String, Object> r, String prefix) {
        int calls = (Integer) r.get(prefix + "_warmup_calls");
        assertThat(calls).as(prefix).isGreaterThanOrEqualTo((Boolean) r.get(prefix + "_jit_settled") ? 2 : 1);
        assertThat((Double) r.get(prefix + "_warmup_s")).as(prefix).isPositive();
        assertThat((Double) r.get(prefix + "_jit_ms_per_call")).as(prefix).isGreaterThanOrEqualTo(0);
        assertThat((Double) r.get(prefix + "_gc_ms_per_call")).as(prefix).isGreaterThanOrEqualTo(0);
    }

    @Test
    void warmupEndsWhenTheJitTookAtMostOnePercentOfTheLastHalf() {
        // per call: the calling thread's CPU ns, JIT ns
        assertThat(BenchTimer.settled(List.of())).isFalse();
        assertThat(BenchTimer.settled(List.of(new long[] {100, 0}))).isFalse(); // one call: too few to judge
        assertThat(BenchTimer.settled(List.of(new long[] {100, 50}, new long[] {100, 0}, new long[] {100, 1},
                new long[] {100, 1}))).isTrue(); // last half: 2 of 200
        assertThat(BenchTimer.settled(List.of(new long[] {100, 0}, new long[] {100, 0}, new long[] {100, 3},
                new long[] {100, 0}))).isFalse(); // last half: 3 of 200
        assertThat(BenchTimer.settled(List.of(new long[] {100, 0}, new long[] {100, 0}, new long[] {100, 0},
                new long[] {100, 0}, new long[] {100, 3}))).isFalse(); // last half of 5: the last 2
    }
}
