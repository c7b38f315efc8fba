package dev.rq.model.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Map;

/**
 * {@code manifest.json} of a checkpoint, written after every other file.
 *
 * @param format always {@value Checkpoints#FORMAT}
 * @param formatVersion layout version; readers reject versions they do not know
 * @param kind {@code rqvae} or {@code rqtransformer}
 * @param config the full resolved configuration
 * @param configHash SHA-256 of the canonical JSON of {@code config}
 * @param step optimizer steps taken (0 for imported or untrained models)
 * @param seed run seed
 * @param files SHA-256 and size of every other file of the checkpoint
 * @param versions project, DJL, libtorch and Java versions that wrote it
 * @param created ISO-8601 time of writing
 */
public record Manifest(
        String format,
        int formatVersion,
        String kind,
        JsonNode config,
        String configHash,
        long step,
        long seed,
        Map<String, FileEntry> files,
        Map<String, String> versions,
        String created) {

    /**
     * One file's checksum.
     *
     * @param sha256 hex SHA-256 of the file's bytes
     * @param bytes file size
     */
    public record FileEntry(String sha256, long bytes) {}
}
