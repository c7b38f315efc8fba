package dev.rq.model.quantizer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rq.model.Repo;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.distributed.Collective;
import dev.rq.model.engine.Engines;
import dev.rq.model.nn.Tensors;
import dev.rq.model.util.SyntheticImages;
import dev.rq.model.vae.RqVae;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The tokenize path's codes-only quantization against the full eval-mode quantization. */
class ResidualQuantizerTest {

    @BeforeAll
    static void engine() {
        Engines.pytorch(1);
    }

    @Test
    void codesOnlyEqualsTheCodesOfTheFullEvalQuantization() throws Exception {
        RqVaeRunConfig c = Configs.loadRqVae(Repo.conf("rqvae/tiny.yaml"), List.of());
        try (NDManager m = Engines.newManager(); RqVae vae = RqVae.create(c.model(), m, 3)) {
            NDArray x = Tensors.of(m, SyntheticImages.batch(8, 16, 5), new Shape(8, 3, 16, 16));
            NDArray ze = vae.encode(x, false); // [B, h, w, C]
            NDArray full = vae.quantizer().quantize(ze, false, Collective.local(), null).codes();
            NDArray only = vae.quantizer().codes(ze);
            assertThat(only.getShape()).isEqualTo(full.getShape());
            long[] expected = full.toLongArray();
            assertThat(only.toLongArray()).containsExactly(expected);
            assertThat(vae.codes(x).toLongArray()).as("RqVae.codes uses it").containsExactly(expected);
            long distinct = java.util.Arrays.stream(expected).distinct().count();
            assertThat(distinct).as("not a degenerate input").isGreaterThan(4);
        }
    }
}
