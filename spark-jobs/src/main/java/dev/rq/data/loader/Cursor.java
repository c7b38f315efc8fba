package dev.rq.data.loader;

import java.io.Serializable;

/**
 * Position of the next global batch: {@code (epoch, step)}. Save it with a checkpoint and pass it
 * to {@link BatchLoader.Builder#optStart} to resume exactly where training stopped.
 *
 * @param epoch epoch number, from 0
 * @param step global batch index within the epoch, from 0
 */
public record Cursor(int epoch, long step) implements Serializable {
    public Cursor {
        if (epoch < 0 || step < 0) {
            throw new IllegalArgumentException("negative cursor " + epoch + "/" + step);
        }
    }

    /** The start of training. */
    public static Cursor start() {
        return new Cursor(0, 0);
    }

    /** The cursor after this one, given the number of steps per epoch. */
    public Cursor next(long stepsPerEpoch) {
        return step + 1 < stepsPerEpoch ? new Cursor(epoch, step + 1) : new Cursor(epoch + 1, 0);
    }
}
