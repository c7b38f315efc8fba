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

    @Test
    void streamingReadHandsOutWantedTensorsInFileOrderAfterTheHeader() throws IOException {
        Map<String, HostTensor> t = new LinkedHashMap<>();
        t.put("z.big", HostTensor.ofFloats(new float[1000], 10, 100));
        t.put("a.small", HostTensor.ofLongs(new long[] {1, 2, 3}, 3));
        t.put("m.mid", HostTensor.ofFloats(new float[] {4, 5}, 2));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        SafeTensors.write(t, Map.of(), out);
        java.util.List<String> events = new java.util.ArrayList<>();
        SafeTensors.Header h = SafeTensors.read(new ByteArrayInputStream(out.toByteArray()), new TensorSource.Reader() {
            @Override
            public java.util.function.Predicate<String> begin(SafeTensors.Header header) {
                events.add("header " + header.keys());
                assertThat(header.entry("z.big").shape()).containsExactly(10, 100);
                return k -> !k.equals("z.big");
            }

            @Override
            public void tensor(String name, HostTensor tensor) {
                events.add(name);
            }
        });
        assertThat(events).containsExactly("header [z.big, a.small, m.mid]", "a.small", "m.mid");
        assertThat(h.without(k -> k.startsWith("z")).keys()).containsExactly("a.small", "m.mid");
    }

    @Test
    void aTensorThatWritesTheWrongNumberOfBytesFailsTheWrite() {
        TensorData liar = new TensorData() {
            @Override
            public HostTensor.Dtype dtype() {
                return HostTensor.Dtype.F32;
            }

            @Override
            public long[] shape() {
                return new long[] {4};
            }

            @Override
            public void writeTo(java.io.OutputStream o) throws IOException {
                o.write(new byte[12]);
            }
        };
        assertThatThrownBy(() -> SafeTensors.write(Map.of("x", liar), Map.of(), new ByteArrayOutputStream()))
                .isInstanceOf(IOException.class).hasMessageContaining("'x' wrote 12 bytes, its header says 16");
    }

    /**
     * A ranged read hands out the wanted tensors' bytes (chunks of 1 MiB: one tensor spans three) in file
     * order and reads no other byte; a file whose size is not where the header's data end is refused.
     */
    @Test
    void rangedReadReadsOnlyTheWantedTensors() throws IOException {
        Map<String, HostTensor> t = new LinkedHashMap<>();
        byte[] big = new byte[(5 << 19) + 12]; // 2.5 MiB + 12 bytes of F32
        for (int i = 0; i < big.length; i++) {
            big[i] = (byte) (i * 31 + 7);
        }
        t.put("a", new HostTensor(HostTensor.Dtype.F32, new long[] {3}, new byte[12]));
        t.put("big", new HostTensor(HostTensor.Dtype.F32, new long[] {big.length / 4}, big));
        t.put("c", new HostTensor(HostTensor.Dtype.I64, new long[] {2}, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
            12, 13, 14, 15, 16}));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        SafeTensors.write(t, Map.of(), out);
        byte[] file = out.toByteArray();
        long[] read = new long[1];
        PositionedInput counting = new PositionedInput() {
            @Override
            public void readFully(long position, byte[] b, int off, int len) throws IOException {
                PositionedInput.of(file).readFully(position, b, off, len);
                read[0] += len;
            }

            @Override
            public void close() {}
        };
        Map<String, byte[]> got = new LinkedHashMap<>();
        SafeTensors.Header h = SafeTensors.readRanged(counting, file.length, new TensorSource.Reader() {
            @Override
            public java.util.function.Predicate<String> begin(SafeTensors.Header header) {
                return k -> !k.equals("a");
            }

            @Override
            public void tensor(String name, HostTensor tensor) {
                got.put(name, tensor.data());
            }
        });
        assertThat(got.keySet()).containsExactly("big", "c");
        assertThat(got.get("big")).isEqualTo(big);
        assertThat(got.get("c")).isEqualTo(t.get("c").data());
        long header = file.length - 12 - big.length - 16;
        assertThat(read[0]).isEqualTo(header + big.length + 16);
        assertThat(h.keys()).containsExactly("a", "big", "c");
        assertThatThrownBy(() -> SafeTensors.readRanged(PositionedInput.of(file), file.length + 1,
                new TensorSource.Reader() {
                    @Override
                    public java.util.function.Predicate<String> begin(SafeTensors.Header header) {
                        return k -> true;
                    }

                    @Override
                    public void tensor(String name, HostTensor tensor) {}
                })).isInstanceOf(IOException.class).hasMessageContaining("the file has " + (file.length + 1) + " bytes");
    }
}
