package dev.rq.model.checkpoint;

import dev.rq.model.safetensors.PositionedInput;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * A directory that holds one checkpoint. The local implementation is {@link LocalDir}; the Spark
 * jobs provide one over any Hadoop FileSystem URI.
 */
public interface CheckpointDir {

    /** Creates (or replaces) a file and opens it for writing. */
    OutputStream create(String name) throws IOException;

    /** Opens a file for reading. */
    InputStream open(String name) throws IOException;

    /**
     * Opens a file for positioned reads (ranged reads on object stores): a sharded resume reads only the
     * byte ranges of its own optimizer moments. The default reads forward through {@link #open}.
     */
    default PositionedInput openPositioned(String name) throws IOException {
        return PositionedInput.forward(() -> open(name));
    }

    /** @return whether the file exists */
    boolean exists(String name) throws IOException;

    /** @return a URI or path naming this directory, for messages and provenance */
    String uri();
}
