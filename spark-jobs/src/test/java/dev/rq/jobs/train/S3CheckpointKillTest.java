package dev.rq.jobs.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rq.cli.RqCliAccess;
import dev.rq.storage.S3Server;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code rq train-vae} on the S3 API (s3proxy in this JVM, every URI {@code s3a://}) killed while it
 * writes a checkpoint, at each file boundary: the training process (a child JVM; in local mode the
 * ranks run in the driver) halts with status 137 after 0, 1 (and mid-way through the 2nd), 2 and 3
 * of the checkpoint's files ({@code model.safetensors}, {@code optimizer.safetensors},
 * {@code trainer_state.json}; the manifest is the commit). Each rerun of the identical command
 * names the torn checkpoint in a warning, resumes from the previous complete one and goes on to the
 * next fault; the last rerun completes with weights and metrics bit-identical to an uninterrupted
 * run of the same command.
 */
class S3CheckpointKillTest {

    static final int STEPS = 5;
    static final String[] FILES_IN_ORDER = {"model.safetensors", "optimizer.safetensors", "trainer_state.json"};
    /** One fault per process: at the checkpoint of step 2 + i, after i complete files ("+": mid-way into the next). */
    static final List<String> FAULTS = List.of("ckpt-0:0:2", "ckpt-1+:0:3", "ckpt-2:0:4", "ckpt-3:0:5");

    @TempDir Path tmp;

    @Test
    void killedDuringCheckpointWritesOnS3ResumesFromThePreviousCompleteCheckpointBitIdentically() throws Exception {
        try (S3Server s3 = new S3Server("rq-ckpt-kill")) {
            Configuration conf = s3.conf();
            FileSystem fs = new org.apache.hadoop.fs.Path(s3.uri("")).getFileSystem(conf);
            try (Stream<Path> files = Files.list(TrainRuns.repo().resolve("data/emoji/train"))) {
                for (Path f : files.toList()) {
                    fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(f.toUri()),
                            new org.apache.hadoop.fs.Path(s3.uri("data/train/" + f.getFileName())));
                }
            }
            fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(TrainRuns.repo().resolve("conf/rqvae/tiny.yaml").toUri()),
                    new org.apache.hadoop.fs.Path(s3.uri("conf/tiny.yaml")));

            long t0 = System.nanoTime();
            StringWriter err = new StringWriter();
            int ref = RqCliAccess.execute(new PrintWriter(err, true), args(s3, "reference").toArray(String[]::new));
            assertThat(ref).as("uninterrupted run (in this JVM): %s", err).isZero();
            long t1 = System.nanoTime();

            List<String> cp = ChildJvm.snapshotClasspath(tmp.resolve("classpath"));
            Path logs = KilledRuns.logs("s3-checkpoint-kill-test");
            List<String> killed = args(s3, "killed");
            killed.addAll(List.of("--fault-injection", String.join(",", FAULTS)));
            RunDirectory run = new RunDirectory(s3.uri("runs/killed"), conf);
            List<Path> attempts = new ArrayList<>();
            for (int i = 0; i <= FAULTS.size(); i++) {
                Path log = logs.resolve("attempt-" + i + ".log");
                attempts.add(log);
                int rc = KilledRuns.rq(cp, killed, log);
                if (i == FAULTS.size()) {
                    assertThat(rc).as("the last rerun completes; log:%n%s", ChildJvm.tail(log, 40)).isZero();
                    break;
                }
                long step = 2 + i;
                assertThat(rc).as("halted in the checkpoint of step %d; log:%n%s", step, ChildJvm.tail(log, 40))
                        .isEqualTo(137);
                assertThat(run.completeSteps()).as("newest complete checkpoint").first().isEqualTo(step - 1);
                assertThat(objects(fs, run, step)).as("objects of the torn step-%d checkpoint", step)
                        .containsExactlyInAnyOrder(List.of(FILES_IN_ORDER).subList(0, i).toArray(String[]::new));
            }
            for (int i = 1; i <= FAULTS.size(); i++) {
                long torn = 2 + (i - 1);
                String text = Files.readString(attempts.get(i));
                assertThat(text).as("attempt %d resumes from step %d", i, torn - 1)
                        .contains("started at step " + (torn - 1) + " ")
                        .contains(RunDirectory.name(torn - 1));
                if (i > 1) { // a kill before the first file leaves no object of that step behind
                    assertThat(text).as("attempt %d names the torn checkpoint", i)
                            .containsPattern("skipping torn checkpoint \\S*" + RunDirectory.name(torn));
                }
            }
            long t2 = System.nanoTime();

            RunDirectory reference = new RunDirectory(s3.uri("runs/reference"), conf);
            String expected = KilledRuns.weightsSha(reference, STEPS);
            assertThat(expected).matches("[0-9a-f]{64}");
            assertThat(KilledRuns.weightsSha(run, STEPS)).isEqualTo(expected);
            run.verify(STEPS);
            assertThat(KilledRuns.steps(run)).isEqualTo(KilledRuns.steps(reference)).hasSize(STEPS);
            System.out.printf("S3CheckpointKillTest: uninterrupted %.1f s, %d killed runs + 1 rerun %.1f s%n",
                    (t1 - t0) / 1e9, FAULTS.size(), (t2 - t1) / 1e9);
        }
    }

    /** @return the {@code rq train-vae} command line of run {@code name}, every URI on {@code s3} */
    static List<String> args(S3Server s3, String name) {
        List<String> a = new ArrayList<>(List.of("train-vae", "--conf", s3.uri("conf/tiny.yaml"),
                "--data", s3.uri("data/train"), "--out", s3.uri("runs/" + name), "--workers", "2",
                "--max-steps", Integer.toString(STEPS), "--checkpoint-every", "1",
                "--set", "train.batch_size=8", "--set", "data.decode_threads=1", "--set", "train.log_every=1"));
        a.addAll(s3.sparkConfArgs());
        return a;
    }

    /** @return the names of the objects under checkpoint {@code step} (none if it has no folder) */
    static List<String> objects(FileSystem fs, RunDirectory run, long step) throws IOException {
        org.apache.hadoop.fs.Path dir = run.path(RunDirectory.CHECKPOINTS + "/" + RunDirectory.name(step));
        List<String> names = new ArrayList<>();
        if (fs.exists(dir)) {
            for (FileStatus s : fs.listStatus(dir)) {
                names.add(s.getPath().getName());
            }
        }
        return names;
    }
}
