package dev.rq.cli;

import dev.rq.jobs.train.RunConflictException;
import dev.rq.jobs.train.TrainingDivergedException;
import dev.rq.model.checkpoint.CheckpointException;
import dev.rq.model.config.ConfigException;
import java.io.FileNotFoundException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.IdentityHashMap;
import java.util.Map;
import picocli.CommandLine;

/**
 * How a failed {@code rq} command ends: a <em>user error</em> (bad arguments, config, paths or
 * input data: something the user can fix) prints one line and exits {@link #USER_ERROR}; anything
 * else is a <em>crash</em> (a defect or an environment failure) that prints a one-line summary and
 * exits {@link #CRASH}, with the stack trace in the log.
 *
 * <p>The rule, for code that throws: a failure is a user error when its cause chain holds an
 * {@link IllegalArgumentException} (any subclass), a {@link ConfigException}, a {@link
 * CheckpointException}, a {@link TrainingDivergedException} (lower the learning rate), a {@link RunConflictException}
 * (an {@code --out} holding another run), a missing, existing or unreadable path ({@link FileNotFoundException},
 * {@link NoSuchFileException}, {@link FileAlreadyExistsException}, {@link AccessDeniedException},
 * Hadoop's {@code AccessControlException}), a picocli {@link CommandLine.ParameterException}, or
 * Spark SQL's {@code AnalysisException} (a query that does not fit the table). Its message is the
 * one line the user sees, so it says what is wrong, where (option, key, path) and what to do.
 * Other {@link IllegalStateException}s and every other exception are crashes. The chain is followed
 * through Spark's task failures, so a bad input found inside a task is still a user error.
 */
final class Failures {

    /** Exit code of a crash. */
    static final int CRASH = 1;
    /** Exit code of a user error (picocli's usage-error code). */
    static final int USER_ERROR = 2;

    private static final String[] USER_ERROR_CLASS_NAMES = {
        "org.apache.hadoop.security.AccessControlException",
        "org.apache.spark.sql.AnalysisException",
    };

    private Failures() {}

    /**
     * @return the exception of {@code t}'s cause chain (outermost first) that makes it a user
     *     error, or {@code null} when {@code t} is a crash
     */
    static Throwable userCause(Throwable t) {
        Map<Throwable, Boolean> seen = new IdentityHashMap<>();
        for (Throwable c = t; c != null && seen.put(c, Boolean.TRUE) == null; c = c.getCause()) {
            if (isUserError(c)) {
                return c;
            }
        }
        return null;
    }

    private static boolean isUserError(Throwable t) {
        if (t instanceof IllegalArgumentException
                || t instanceof ConfigException
                || t instanceof CheckpointException
                || t instanceof TrainingDivergedException
                || t instanceof RunConflictException
                || t instanceof FileNotFoundException
                || t instanceof NoSuchFileException
                || t instanceof FileAlreadyExistsException
                || t instanceof AccessDeniedException
                || t instanceof CommandLine.ParameterException) {
            return true;
        }
        for (Class<?> k = t.getClass(); k != null; k = k.getSuperclass()) {
            for (String name : USER_ERROR_CLASS_NAMES) {
                if (k.getName().equals(name)) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * The one line a user reads about a failure: the message of the outermost exception this
     * project threw (it names its context) when there is one; else, for a user error, the first
     * line of the user cause's message; else the first line of the innermost cause (for a Spark
     * job, the exception of the failed task rather than Spark's report with its stack trace).
     */
    static String message(Throwable t) {
        if (t.getClass().getName().startsWith("dev.rq.") && t.getMessage() != null) {
            return oneLine(t.getMessage());
        }
        Throwable user = userCause(t);
        if (user instanceof FileSystemException f && f.getFile() != null) { // its message is only the path
            String what = f.getReason() != null ? f.getReason()
                    : f instanceof NoSuchFileException ? "no such file or directory"
                    : f instanceof FileAlreadyExistsException ? "already exists"
                    : f instanceof AccessDeniedException ? "permission denied" : f.getClass().getSimpleName();
            return firstLine(f.getFile() + ": " + what);
        }
        if (user != null && user.getMessage() != null) {
            return firstLine(user.getMessage());
        }
        Throwable root = t;
        Map<Throwable, Boolean> seen = new IdentityHashMap<>();
        while (root.getCause() != null && seen.put(root, Boolean.TRUE) == null) {
            root = root.getCause();
        }
        return firstLine(root.toString());
    }

    /** {@code s} as one line: line breaks (and the indentation around them) become "; ". */
    static String oneLine(String s) {
        return s.strip().replaceAll("\\s*[\\r\\n]+\\s*", "; ");
    }

    private static String firstLine(String s) {
        String f = s.strip();
        int nl = f.indexOf('\n');
        return (nl < 0 ? f : f.substring(0, nl)).strip();
    }
}
