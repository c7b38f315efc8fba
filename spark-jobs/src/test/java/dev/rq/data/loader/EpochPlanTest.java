package dev.rq.data.loader;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.BitSet;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The sample order on synthetic block layouts (no I/O): N-independence, exactly-once, windows. */
class EpochPlanTest {

    /** 61 blocks of 1..40 rows (uneven, as Parquet row groups are): 1,231 rows. */
    static BlockIndex blocks() {
        Random r = new Random(3);
        long[] rows = new long[61];
        long[] bytes = new long[61];
        for (int b = 0; b < rows.length; b++) {
            rows[b] = 1 + r.nextInt(40);
            bytes[b] = rows[b] * 1000;
        }
        return BlockIndex.of(rows, bytes);
    }

    @Test
    void theGlobalBatchesAreTheSameForEveryWorkerCountThatDividesThePartitions() {
        BlockIndex bi = blocks();
        int batch = 24; // k = 3 rows per partition
        EpochPlan plan = new EpochPlan(bi, batch, 8, 20, 42, true);
        long steps = plan.stepsPerEpoch();
        assertThat(steps).isEqualTo(bi.numRows() / 8 / 3);
        for (int epoch = 0; epoch < 2; epoch++) {
            for (long step = 0; step < steps; step++) {
                long[] whole = plan.batch(epoch, step);
                for (int n : new int[] {2, 4, 8}) {
                    long[] joined = new long[0];
                    for (int r = 0; r < n; r++) {
                        // a fresh plan per rank: nothing is shared but the arguments
                        long[] s = new EpochPlan(bi, batch, 8, 20, 42, true).slice(epoch, step, r, n);
                        assertThat(s).hasSize(batch / n);
                        joined = concat(joined, s);
                    }
                    assertThat(joined).as("epoch %d step %d N=%d", epoch, step, n).containsExactly(whole);
                }
            }
        }
    }

    @Test
    void everyRowAtMostOncePerEpochAndTheSkippedRemainderIsSmallAndChanges() {
        BlockIndex bi = blocks(); // 1,231 rows: not a multiple of the batch times any N
        int batch = 16;
        EpochPlan plan = new EpochPlan(bi, batch, 4, 50, 7, true);
        long steps = plan.stepsPerEpoch();
        Set<Long> skippedBefore = null;
        for (int epoch = 0; epoch < 3; epoch++) {
            BitSet seen = new BitSet();
            for (long step = 0; step < steps; step++) {
                for (long i : plan.batch(epoch, step)) {
                    assertThat(seen.get((int) i)).as("row %d twice in epoch %d", i, epoch).isFalse();
                    seen.set((int) i);
                }
            }
            long skipped = bi.numRows() - seen.cardinality();
            assertThat(skipped).isEqualTo(bi.numRows() - steps * batch).isLessThan(batch + 4);
            Set<Long> s = new HashSet<>();
            for (long i = 0; i < bi.numRows(); i++) {
                if (!seen.get((int) i)) {
                    s.add(i);
                }
            }
            if (skippedBefore != null) {
                assertThat(s).as("skipped rows change with the epoch").isNotEqualTo(skippedBefore);
            }
            skippedBefore = s;
        }
    }

    @Test
    void partitionsKeepTheirRowsAndEachRankReadsOnlyItsBlocks() {
        BlockIndex bi = blocks();
        int batch = 8;
        EpochPlan plan = new EpochPlan(bi, batch, 4, 30, 11, true);
        long steps = plan.stepsPerEpoch();
        Set<Integer> rank0Blocks = new HashSet<>();
        Set<Integer> rank1Blocks = new HashSet<>();
        Set<Long> rank0Rows = new HashSet<>();
        for (int epoch = 0; epoch < 3; epoch++) {
            Set<Long> rows = new HashSet<>();
            for (long step = 0; step < steps; step++) {
                for (long i : plan.slice(epoch, step, 0, 2)) {
                    rows.add(i);
                    rank0Blocks.add(bi.blockOf(i));
                }
                for (long i : plan.slice(epoch, step, 1, 2)) {
                    rank1Blocks.add(bi.blockOf(i));
                }
            }
            if (epoch > 0) { // the same half of the rows every epoch (up to the skipped remainder)
                Set<Long> both = new HashSet<>(rows);
                both.retainAll(rank0Rows);
                assertThat(both.size()).isGreaterThan(rows.size() - batch);
            }
            rank0Rows.addAll(rows);
        }
        Set<Integer> shared = new HashSet<>(rank0Blocks);
        shared.retainAll(rank1Blocks);
        assertThat(shared).as("only a block cut by the partition boundary is read by both ranks").hasSizeLessThanOrEqualTo(1);
        assertThat(rank0Blocks.size() + rank1Blocks.size()).isLessThanOrEqualTo(bi.numBlocks() + 1);
    }

    @Test
    void windowsListTheBlocksTheirRowsComeFromAndShuffleOnlyWithin() {
        BlockIndex bi = blocks();
        EpochPlan plan = new EpochPlan(bi, 8, 4, 30, 5, true);
        for (int p = 0; p < 4; p++) {
            EpochPlan.PartitionOrder o = plan.order(1, p);
            long total = 0;
            for (int j = 0; j < o.windows(); j++) {
                EpochPlan.Window w = o.window(j);
                assertThat(w.end() - w.first()).isBetween(1L, 30L);
                total += w.end() - w.first();
                Set<Integer> listed = new HashSet<>();
                Arrays.stream(w.blocks()).forEach(listed::add);
                Set<Long> rows = new HashSet<>();
                for (long pos = w.first(); pos < w.end(); pos++) {
                    long row = o.at(pos);
                    assertThat(listed).as("window %d of partition %d", j, p).contains(bi.blockOf(row));
                    rows.add(row);
                }
                assertThat(rows).hasSize((int) (w.end() - w.first()));
            }
            assertThat(total).isEqualTo(o.size());
        }
        // window boundaries are staggered across partitions (reads spread over the steps)
        assertThat(plan.order(0, 1).window(0).end()).isNotEqualTo(plan.order(0, 0).window(0).end());
    }

    @Test
    void orderDependsOnSeedAndEpochAndSequentialIsStorageOrder() {
        BlockIndex bi = blocks();
        assertThat(new EpochPlan(bi, 8, 4, 30, 1, true).batch(0, 0))
                .isEqualTo(new EpochPlan(bi, 8, 4, 30, 1, true).batch(0, 0))
                .isNotEqualTo(new EpochPlan(bi, 8, 4, 30, 1, true).batch(1, 0))
                .isNotEqualTo(new EpochPlan(bi, 8, 4, 30, 2, true).batch(0, 0));
        EpochPlan seq = EpochPlan.sequential(bi, 5);
        assertThat(seq.batch(0, 2)).containsExactly(10, 11, 12, 13, 14);
    }

    @Test
    void badWorkerCountsAndBatchesAreRejected() {
        EpochPlan plan = new EpochPlan(blocks(), 24, 8, 30, 1, true);
        assertThatThrownBy(() -> plan.slice(0, 0, 0, 3)).hasMessageContaining("3 workers do not divide the 8");
        assertThatThrownBy(() -> new EpochPlan(blocks(), 12, 8, 30, 1, true))
                .hasMessageContaining("must divide the global batch 12");
        assertThatThrownBy(() -> plan.slice(0, 1000, 0, 2)).hasMessageContaining("step 1000");
    }

    private static long[] concat(long[] a, long[] b) {
        long[] o = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, o, a.length, b.length);
        return o;
    }
}
