package dev.rq.jobs.sample;

import java.io.Serializable;

/**
 * One Spark task's input: the samples {@code (classes[j], indices[j])} it generates, in order
 * (at most one model batch per model call; a unit may span a class boundary).
 *
 * @param classes class id of each sample
 * @param indices index of each sample within its class
 */
public record SampleUnit(int[] classes, int[] indices) implements Serializable {

    public SampleUnit {
        if (classes.length != indices.length || classes.length == 0) {
            throw new IllegalArgumentException("a unit needs as many (> 0) classes as indices");
        }
    }

    /** @return number of samples */
    public int size() {
        return classes.length;
    }
}
