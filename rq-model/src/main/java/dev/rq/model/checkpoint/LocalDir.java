package dev.rq.model.checkpoint;

import dev.rq.model.safetensors.PositionedInput;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** A {@link CheckpointDir} on the local file system. */
public record LocalDir(Path path) implements CheckpointDir {

    @Override
    public OutputStream create(String name) throws IOException {
        Files.createDirectories(path);
        return Files.newOutputStream(path.resolve(name));
    }

    @Override
    public InputStream open(String name) throws IOException {
        return Files.newInputStream(path.resolve(name));
    }

    @Override
    public PositionedInput openPositioned(String name) throws IOException {
        FileChannel ch = FileChannel.open(path.resolve(name), StandardOpenOption.READ);
        return new PositionedInput() {
            @Override
            public void readFully(long position, byte[] b, int off, int len) throws IOException {
                ByteBuffer buf = ByteBuffer.wrap(b, off, len);
                while (buf.hasRemaining()) {
                    if (ch.read(buf, position + buf.position() - off) < 0) {
                        throw new EOFException(path.resolve(name) + " ends before byte " + (position + len));
                    }
                }
            }

            @Override
            public void close() throws IOException {
                ch.close();
            }
        };
    }

    @Override
    public boolean exists(String name) {
        return Files.exists(path.resolve(name));
    }

    @Override
    public String uri() {
        return path.toAbsolutePath().toUri().toString();
    }
}
