package dev.rq.pipelines.quickstart;

import java.util.Locale;
import java.util.Objects;

/**
 * What one quickstart stage did, and what it hands to the stages after it.
 *
 * @param status whether the stage did its work now ({@link Status#RAN}), continued earlier work
 *     ({@link Status#RESUMED}) or found it done ({@link Status#SKIPPED})
 * @param result the stage's result, used by later stages (the same type whether it ran or skipped)
 * @param note one line for the console, {@code quickstart.json} and the report
 * @param <T> the result type
 */
record Outcome<T>(Status status, T result, String note) {

    /** How a stage ended ({@code failed} is recorded by the stage runner, never returned). */
    enum Status {
        RAN,
        RESUMED,
        SKIPPED,
        FAILED;

        /** @return the name stored in {@code quickstart.json} ({@code ran}, …) */
        String label() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** @return whether the stage did (part of) its work in this invocation */
        boolean worked() {
            return this == RAN || this == RESUMED;
        }
    }

    Outcome {
        Objects.requireNonNull(status, "status");
        Objects.requireNonNull(note, "note");
    }

    static <T> Outcome<T> ran(T result, String note) {
        return new Outcome<>(Status.RAN, result, note);
    }

    static <T> Outcome<T> resumed(T result, String note) {
        return new Outcome<>(Status.RESUMED, result, note);
    }

    static <T> Outcome<T> skipped(T result, String note) {
        return new Outcome<>(Status.SKIPPED, result, note);
    }
}
