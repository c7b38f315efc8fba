package dev.rq.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.rq.jobs.SparkSessions;
import dev.rq.model.config.Configs;
import dev.rq.model.config.RqVaeRunConfig;
import dev.rq.model.config.TransformerRunConfig;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.util.List;
import org.apache.hadoop.fs.Path;

/**
 * Config files of the commands at any Hadoop URI ({@code s3a://bucket/conf/in256.yaml}, {@code
 * hdfs://…}, or a local path), read with the user's {@code spark.hadoop.*} settings before any Spark
 * session exists, so a Kubernetes job needs no config baked into its image.
 */
final class ConfigFiles {

    private ConfigFiles() {}

    /** @return the YAML / JSON tree of the file at {@code uri} */
    static JsonNode read(String uri, String option) throws IOException {
        Path p = new Path(uri);
        try (InputStream in = p.getFileSystem(SparkSessions.hadoopConf()).open(p)) {
            return Configs.readTree(in, uri);
        } catch (FileNotFoundException e) {
            throw new FileNotFoundException(option + ": " + uri + " does not exist");
        }
    }

    /** @return the stage-1 run config at {@code uri} with {@code key=value} overrides, validated */
    static RqVaeRunConfig rqVae(String uri, List<String> overrides) throws IOException {
        return Configs.bind(Configs.applyOverrides(read(uri, "--conf"), overrides), RqVaeRunConfig.class, "");
    }

    /** @return the stage-2 run config at {@code uri} with {@code key=value} overrides, validated */
    static TransformerRunConfig transformer(String uri, List<String> overrides) throws IOException {
        return TransformerRunConfig.bind(Configs.applyOverrides(read(uri, "--conf"), overrides));
    }

    /** @return {@code relative} resolved against the folder of {@code uri} (unchanged when absolute or a URI) */
    static String sibling(String uri, String relative) {
        URI r = URI.create(relative.replace(" ", "%20"));
        if (r.isAbsolute() || relative.startsWith("/")) {
            return relative;
        }
        Path parent = new Path(uri).getParent();
        return parent == null ? relative : new Path(parent, relative).toString();
    }
}
