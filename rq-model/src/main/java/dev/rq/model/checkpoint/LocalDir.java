package dev.rq.model.checkpoint;

import java.io.IOException;
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
    public boolean exists(String name) {
        return Files.exists(path.resolve(name));
    }

    @Override
    public String uri() {
        return path.toAbsolutePath().toUri().toString();
    }
}
