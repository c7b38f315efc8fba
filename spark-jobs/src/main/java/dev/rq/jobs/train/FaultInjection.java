package dev.rq.jobs.train;

import dev.rq.model.checkpoint.CheckpointDir;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.fs.Path;

/**
 * Testing only ({@code --fault-injection}): faults at exact points of a training run, each one
 * shot per run directory (a marker file {@code _fault_injected_<mode>_<rank>_<step>} is written
 * first, so the retried attempt or the rerun passes). A comma-separated list of {@code
 * mode:rank:step}:
 *
 * <ul>
 *   <li>{@code throw}, {@code hang}, {@code exit}: before optimizer step {@code step}, the rank
 *       throws, stops responding, or halts the JVM with status 137 (a killed executor or, in local
 *       mode, a killed driver);
 *   <li>{@code ckpt-K}: while writing the checkpoint of step {@code step}, the JVM halts (137) when
 *       the (K+1)-th file is created, after K files are complete ({@code model.safetensors},
 *       {@code optimizer.safetensors}, {@code trainer_state.json}, {@code manifest.json});
 *   <li>{@code ckpt-K+}: as {@code ckpt-K}, but after the first bytes of the (K+1)-th file are
 *       written (mid-file, the file not closed).
 * </ul>
 */
final class FaultInjection {

    /** One fault. */
    record Fault(String mode, int rank, long step) {
        static Fault parse(String s) {
            String[] p = s.trim().split(":");
            if (p.length != 3 || !p[0].matches("throw|hang|exit|ckpt-\\d\\+?")) {
                throw new IllegalArgumentException("fault injection must be mode:rank:step with mode throw, hang, exit,"
                        + " ckpt-K or ckpt-K+, got " + s);
            }
            return new Fault(p[0], Integer.parseInt(p[1]), Long.parseLong(p[2]));
        }

        boolean inCheckpoint() {
            return mode.startsWith("ckpt-");
        }
    }

    private final List<Fault> faults = new ArrayList<>();

    /** @param spec a comma-separated list, or null / blank for none */
    FaultInjection(String spec) {
        if (spec != null && !spec.isBlank()) {
            for (String s : spec.split(",")) {
                faults.add(Fault.parse(s));
            }
        }
    }

    /** Before optimizer step {@code step} of {@code rank}: fires a throw / hang / exit fault. */
    void beforeStep(RunDirectory run, int rank, long step) throws IOException {
        for (Fault f : faults) {
            if (!f.inCheckpoint() && f.rank() == rank && f.step() == step && claim(run, f)) {
                switch (f.mode()) {
                    case "throw" -> throw new IllegalStateException("injected fault: rank " + rank + " throws at step "
                            + step);
                    case "hang" -> {
                        try {
                            Thread.sleep(Long.MAX_VALUE); // stops responding; peers time out, Spark kills us
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            throw new IllegalStateException("injected hang interrupted", e);
                        }
                    }
                    default -> halt(); // a killed executor / driver process
                }
            }
        }
    }

    /** @return {@code dir}, or a wrapper that halts the JVM inside the write of step {@code step}'s checkpoint */
    CheckpointDir checkpoint(RunDirectory run, int rank, long step, CheckpointDir dir) throws IOException {
        for (Fault f : faults) {
            if (f.inCheckpoint() && f.rank() == rank && f.step() == step && claim(run, f)) {
                boolean midFile = f.mode().endsWith("+");
                int complete = Integer.parseInt(f.mode().substring(5, midFile ? f.mode().length() - 1
                        : f.mode().length()));
                return new Halting(dir, complete, midFile);
            }
        }
        return dir;
    }

    /** Writes the one-shot marker; @return false if the fault already fired in this run */
    private static boolean claim(RunDirectory run, Fault f) throws IOException {
        Path marker = run.path("_fault_injected_" + f.mode() + "_" + f.rank() + "_" + f.step());
        if (run.fs().exists(marker)) {
            return false;
        }
        run.fs().create(marker, true).close();
        return true;
    }

    private static void halt() {
        System.err.println("injected fault: halting the JVM (137)");
        Runtime.getRuntime().halt(137);
    }

    /** Halts when the file after {@code complete} finished files is created (or first written). */
    private static final class Halting implements CheckpointDir {
        private final CheckpointDir dir;
        private final int complete;
        private final boolean midFile;
        private int created;

        Halting(CheckpointDir dir, int complete, boolean midFile) {
            this.dir = dir;
            this.complete = complete;
            this.midFile = midFile;
        }

        @Override
        public OutputStream create(String name) throws IOException {
            if (created++ < complete) {
                return dir.create(name);
            }
            if (!midFile) {
                halt();
            }
            return new FilterOutputStream(dir.create(name)) {
                @Override
                public void write(byte[] b, int off, int len) throws IOException {
                    out.write(b, off, len);
                    out.flush();
                    halt();
                }

                @Override
                public void write(int b) throws IOException {
                    out.write(b);
                    out.flush();
                    halt();
                }
            };
        }

        @Override
        public InputStream open(String name) throws IOException {
            return dir.open(name);
        }

        @Override
        public dev.rq.model.safetensors.PositionedInput openPositioned(String name) throws IOException {
            return dir.openPositioned(name);
        }

        @Override
        public boolean exists(String name) throws IOException {
            return dir.exists(name);
        }

        @Override
        public String uri() {
            return dir.uri();
        }
    }
}
