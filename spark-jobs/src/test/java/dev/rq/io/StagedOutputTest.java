package dev.rq.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The commit protocol of {@link StagedOutput} on the local file system (the object-store and HDFS
 * runs of the same protocol are in {@code dev.rq.storage}): marker last, an older output readable
 * until the new marker lands, aborts that leave it intact, leftovers removed by the next commit.
 */
class StagedOutputTest {

    static final StagedOutput.Spec SPEC = new StagedOutput.Spec("_manifest.json", "--output", "a test output", false);
    static final StagedOutput.Spec REUSE = new StagedOutput.Spec("_manifest.json", "--output", "a test output", true);

    @TempDir Path tmp;
    final Configuration conf = new Configuration();

    static void write(StagedOutput out, String rel, String text) throws IOException {
        FileSystem fs = out.fs();
        try (OutputStream s = HadoopDir.createFile(fs, out.path(rel))) {
            s.write(text.getBytes(StandardCharsets.UTF_8));
        }
    }

    static List<String> tree(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(Files::isRegularFile).map(p -> root.relativize(p).toString())
                    .filter(n -> !n.endsWith(".crc")).sorted().toList();
        }
    }

    /** A complete output holding {@code data/a.txt} = "old". */
    Path committedOutput() throws IOException {
        Path root = tmp.resolve("out");
        try (StagedOutput out = StagedOutput.begin(root.toString(), conf, SPEC)) {
            assertThat(out.replacing()).isFalse();
            assertThat(out.fileName("data/a", ".txt")).isEqualTo("data/a.txt");
            write(out, "data/a.txt", "old");
            assertThat(root.resolve("_manifest.json")).doesNotExist();
            out.commit(List.of("data/a.txt"), "{\"files\":[\"data/a.txt\"]}".getBytes(StandardCharsets.UTF_8));
        }
        return root;
    }

    @Test
    void freshOutputCommitsTheMarkerLastAndKeepsOnlyTheListedFiles() throws Exception {
        Path root = committedOutput();
        assertThat(tree(root)).containsExactly("_manifest.json", "_rq_output.json", "data/a.txt");
        assertThat(Files.readString(root.resolve("_rq_output.json"))).contains("\"kind\" : \"a test output\"");
        StagedOutput.requireComplete(root.toString(), conf, "_manifest.json", "test output");
    }

    @Test
    void replacedOutputStaysReadableUntilTheNewMarkerAndIsRemovedAfter() throws Exception {
        Path root = committedOutput();
        // leftovers of a crashed attempt: a hidden temporary file and a stale folder
        Files.writeString(root.resolve("data/.b.txt.tmp-123"), "partial");
        Files.createDirectories(root.resolve("stale"));
        Files.writeString(root.resolve("stale/x.txt"), "x");
        try (StagedOutput out = StagedOutput.begin(root.toString(), conf, SPEC)) {
            assertThat(out.replacing()).isTrue();
            String name = out.fileName("data/a", ".txt");
            assertThat(name).isEqualTo("data/a-" + out.id() + ".txt");
            write(out, name, "new");
            // the old output is intact while the new one is written
            assertThat(Files.readString(root.resolve("data/a.txt"))).isEqualTo("old");
            assertThat(Files.readString(root.resolve("_manifest.json"))).contains("data/a.txt\"");
            out.commit(List.of(name), ("{\"files\":[\"" + name + "\"]}").getBytes(StandardCharsets.UTF_8));
            assertThat(tree(root)).containsExactly("_manifest.json", "_rq_output.json", name);
        }
    }

    @Test
    void abortLeavesTheOlderOutputAsItWas() throws Exception {
        Path root = committedOutput();
        List<String> before = tree(root);
        String marker = Files.readString(root.resolve("_manifest.json"));
        try (StagedOutput out = StagedOutput.begin(root.toString(), conf, SPEC)) {
            write(out, out.fileName("data/a", ".txt"), "new");
            write(out, out.fileName("data/b", ".txt"), "new");
            // no commit: close() aborts
        }
        assertThat(tree(root)).isEqualTo(before);
        assertThat(Files.readString(root.resolve("_manifest.json"))).isEqualTo(marker);
        assertThat(Files.readString(root.resolve("data/a.txt"))).isEqualTo("old");
    }

    @Test
    void abortOfAFreshOutputRemovesIt() throws Exception {
        Path root = tmp.resolve("fresh");
        try (StagedOutput out = StagedOutput.begin(root.toString(), conf, SPEC)) {
            write(out, out.fileName("data/a", ".txt"), "partial");
        }
        assertThat(root).doesNotExist();
    }

    @Test
    void commitRefusesWhenAListedFileIsMissingAndWritesNoMarker() throws Exception {
        Path root = tmp.resolve("out");
        try (StagedOutput out = StagedOutput.begin(root.toString(), conf, SPEC)) {
            write(out, "a.txt", "x");
            assertThatThrownBy(() -> out.commit(List.of("a.txt", "b.txt"), new byte[0]))
                    .hasMessageContaining("b.txt was not written");
        }
        assertThat(root.resolve("_manifest.json")).doesNotExist();
        assertThatThrownBy(() -> StagedOutput.requireComplete(root.toString(), conf, "_manifest.json", "test output"))
                .isInstanceOf(java.io.FileNotFoundException.class).hasMessageContaining("_manifest.json");
    }

    @Test
    void foreignFoldersAreNeverTouchedButUnfinishedOutputsOfTheKindAreReplaced() throws Exception {
        Path foreign = Files.createDirectories(tmp.resolve("foreign"));
        Files.writeString(foreign.resolve("keep.txt"), "mine");
        assertThatThrownBy(() -> StagedOutput.begin(foreign.toString(), conf, SPEC))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("is not a test output").hasMessageContaining("refusing to replace it");
        assertThat(tree(foreign)).containsExactly("keep.txt");
        Files.writeString(tmp.resolve("file"), "x");
        assertThatThrownBy(() -> StagedOutput.begin(tmp.resolve("file").toString(), conf, SPEC))
                .hasMessageContaining("exists and is a file");

        // a killed run leaves files and the owner file but no marker: the rerun may replace it
        Path killed = tmp.resolve("killed");
        StagedOutput first = StagedOutput.begin(killed.toString(), conf, SPEC);
        write(first, "part-0.txt", "half");
        try (StagedOutput again = StagedOutput.begin(killed.toString(), conf, SPEC)) {
            assertThat(again.replacing()).isFalse();
            write(again, "part-0.txt", "whole");
            again.commit(List.of("part-0.txt"), new byte[0]);
        }
        assertThat(Files.readString(killed.resolve("part-0.txt"))).isEqualTo("whole");
        // another kind's unfinished output is foreign
        assertThatThrownBy(() -> StagedOutput.begin(killed.toString(), conf,
                new StagedOutput.Spec("_other.json", "--output", "another output", false)))
                .hasMessageContaining("is not another output");
    }

    @Test
    void outputsThatReuseNamesAreInvalidatedBeforeAnythingIsOverwritten() throws Exception {
        Path root = tmp.resolve("out");
        try (StagedOutput out = StagedOutput.begin(root.toString(), conf, REUSE)) {
            write(out, "img/0.png", "old");
            out.commit(List.of("img/0.png"), new byte[0]);
        }
        try (StagedOutput out = StagedOutput.begin(root.toString(), conf, REUSE)) {
            assertThat(root.resolve("_manifest.json")).as("invalidated at begin").doesNotExist();
            assertThat(out.fileName("img/0", ".png")).isEqualTo("img/0.png");
            write(out, "img/0.png", "new");
        } // aborted: nothing half-old, half-new remains
        assertThat(tree(root)).containsExactly("_rq_output.json");
    }
}
