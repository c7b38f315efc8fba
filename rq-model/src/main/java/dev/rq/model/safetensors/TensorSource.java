package dev.rq.model.safetensors;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Named tensors read once, one at a time, in storage order — a safetensors file on any file
 * system (see {@code Checkpoints.Loaded#modelSource()}), or a map already in memory ({@link
 * #of(Map)}). Loaders ({@code ParamStore}, the optimizer) check names and shapes from the header
 * before any data is read and copy each tensor to the engine as it arrives, so loading a model
 * needs about one copy of its weights, not two.
 */
public interface TensorSource {

    /** Receives a source's header, then the tensors it asked for. */
    interface Reader {
        /**
         * Called once, before any tensor data: sees every entry (names, dtypes, shapes) and may
         * throw to refuse the source.
         *
         * @return which tensors to read; the others are skipped
         */
        Predicate<String> begin(SafeTensors.Header header);

        /** Called for each wanted tensor, in storage order. */
        void tensor(String name, HostTensor t);

        /**
         * Called instead of {@link #tensor(String, HostTensor)} by a ranged read ({@link
         * SafeTensors#readRanged}): the tensor's bytes in an off-heap little-endian buffer (position 0,
         * limit its size), valid during the call only. The default copies them into a {@link HostTensor}
         * on the heap; readers that copy tensors to the engine override it.
         */
        default void tensor(SafeTensors.Entry entry, ByteBuffer data) {
            byte[] b = new byte[data.remaining()];
            data.get(b);
            tensor(entry.name(), new HostTensor(entry.dtype(), entry.shape(), b));
        }
    }

    /**
     * Reads the source once. A source that verifies checksums (checkpoint files) throws at the end
     * if they do not match, after the tensors were handed out: readers build something that is
     * discarded when {@code read} throws.
     */
    void read(Reader reader) throws IOException;

    /** @return a source over tensors in memory (in map order) */
    static TensorSource of(Map<String, HostTensor> tensors) {
        return reader -> {
            Map<String, SafeTensors.Entry> entries = new LinkedHashMap<>();
            long offset = 0;
            for (Map.Entry<String, HostTensor> e : tensors.entrySet()) {
                HostTensor t = e.getValue();
                entries.put(e.getKey(), new SafeTensors.Entry(e.getKey(), t.dtype(), t.shape(), offset,
                        offset + t.data().length));
                offset += t.data().length;
            }
            Predicate<String> wanted = reader.begin(new SafeTensors.Header(entries, Map.of()));
            tensors.forEach((k, t) -> {
                if (wanted.test(k)) {
                    reader.tensor(k, t);
                }
            });
        };
    }
}
