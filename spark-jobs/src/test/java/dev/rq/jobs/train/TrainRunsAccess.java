package dev.rq.jobs.train;

import java.nio.file.Path;

/** The repository root of {@link TrainRuns} for tests of other packages. */
public final class TrainRunsAccess {

    private TrainRunsAccess() {}

    /** @return the repository root (the folder holding {@code conf/}) */
    public static Path repo() {
        return TrainRuns.repo();
    }
}
