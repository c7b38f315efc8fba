package dev.rq.jobs.eval;

import java.io.Serializable;

/**
 * One row of a token table to decode and evaluate, with its position in the evaluation order.
 *
 * @param index position in the evaluation order
 * @param split split of the row
 * @param id image id
 * @param label class id
 * @param sourceShard source shard (class folder for sampled images)
 * @param sourceRow source row (sample index for sampled images)
 * @param codes h·w·D codes
 */
public record CodeItem(long index, String split, String id, long label, String sourceShard, long sourceRow,
        int[] codes) implements Serializable {}
