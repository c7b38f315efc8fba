package dev.rq.model.safetensors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SafeTensorsTest {

    @Test
    void roundTripWithMetadataAndAlignment() throws IOException {
        Map<String, HostTensor> t = new LinkedHashMap<>();
        t.put("b.weight", HostTensor.ofFloats(new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
        t.put("a.codes", HostTensor.ofLongs(new long[] {7, -8}, 2));
        t.put("scalar", HostTensor.ofFloats(new float[] {0.5f}));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        SafeTensors.write(t, Map.of("note", "hi"), out);
        byte[] bytes = out.toByteArray();
        long headerLen = java.nio.ByteBuffer.wrap(bytes, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        assertThat(headerLen % 8).isZero();
        SafeTensors.Contents c = SafeTensors.read(new ByteArrayInputStream(bytes));
        assertThat(c.tensors().keySet()).containsExactly("b.weight", "a.codes", "scalar");
        assertThat(c.metadata()).containsEntry("note", "hi");
        assertThat(c.get("b.weight").toFloats()).containsExactly(1, 2, 3, 4, 5, 6);
        assertThat(c.get("b.weight").shape()).containsExactly(2, 3);
        assertThat(c.get("a.codes").toLongs()).containsExactly(7, -8);
        assertThat(c.get("scalar").shape()).isEmpty();
        assertThatThrownBy(() -> c.get("nope")).hasMessageContaining("nope");
    }

    @Test
    void truncationIsDetected() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        SafeTensors.write(Map.of("x", HostTensor.ofFloats(new float[100], 100)), Map.of(), out);
        byte[] cut = Arrays.copyOf(out.toByteArray(), out.size() - 1);
        assertThatThrownBy(() -> SafeTensors.read(new ByteArrayInputStream(cut)))
                .isInstanceOf(IOException.class).hasMessageContaining("truncated");
        assertThatThrownBy(() -> SafeTensors.read(new ByteArrayInputStream(new byte[] {1, 2, 3})))
                .isInstanceOf(IOException.class);
    }
}
