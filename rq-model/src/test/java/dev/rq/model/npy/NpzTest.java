package dev.rq.model.npy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** .npy/.npz: files written by numpy read back; our files have numpy's exact header layout. */
class NpzTest {

    @Test
    void readsNumpyCompressedArchiveWithFortranOrder() throws IOException {
        Map<String, Npy.Array> a;
        try (InputStream in = getClass().getResourceAsStream("/metrics/compressed.npz")) {
            a = Npz.read(in, "compressed.npz");
        }
        assertThat(a.keySet()).containsExactly("f32", "f64_fortran", "i64");
        assertThat(a.get("f32").shape()).containsExactly(2, 3);
        assertThat(a.get("f32").data()).containsExactly(0, 1, 2, 3, 4, 5);
        assertThat(a.get("f64_fortran").shape()).containsExactly(3, 4);
        assertThat(a.get("f64_fortran").data()).containsExactly(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
        assertThat(a.get("i64").data()).containsExactly(7, -3);
    }

    @Test
    void writesNumpysHeaderAndRoundTrips() throws IOException {
        Map<String, Npy.Array> arrays = new LinkedHashMap<>();
        arrays.put("mu", Npy.Array.of(new double[] {1.5, -2}));
        arrays.put("sigma", Npy.Array.of(new double[][] {{1, 2}, {3, 4}}));
        ByteArrayOutputStream npy = new ByteArrayOutputStream();
        Npy.write(arrays.get("mu"), npy);
        byte[] b = npy.toByteArray();
        String header = new String(b, 10, 118, StandardCharsets.ISO_8859_1);
        assertThat(header).startsWith("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }").endsWith("\n");
        assertThat(b.length).isEqualTo(128 + 16); // header padded to 64 bytes, as np.save does
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Npz.write(arrays, out);
        Map<String, Npy.Array> back = Npz.read(new ByteArrayInputStream(out.toByteArray()), "mem");
        assertThat(back.get("mu").data()).containsExactly(1.5, -2);
        assertThat(back.get("sigma").matrix()[1]).containsExactly(3, 4);
    }

    @Test
    void garbageIsAReadableError() {
        assertThatThrownBy(() -> Npz.read(new ByteArrayInputStream("not a zip".getBytes()), "x.npz"))
                .isInstanceOf(IOException.class).hasMessageContaining("x.npz");
    }
}
