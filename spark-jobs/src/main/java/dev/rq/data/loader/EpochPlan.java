package dev.rq.data.loader;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * The sample order of training: which global rows form global batch {@code b} of epoch {@code e}
 * and which rank reads which of them. A pure function of (blocks, B, C, W, seed, epoch); the
 * number of ranks N only selects a contiguous part of each batch. The design and its trade-offs
 * are in {@code docs/data.md} §5.
 *
 * <pre>
 *  run (seed):   blocks in a seeded order, cut into C equal spans of rows → partition p
 *  epoch (e):    each partition's pieces in a new order, rotated by a random offset; its first
 *                S·k rows are shuffled within windows of W rows (window boundaries of partition p
 *                shifted by frac(p·0.618…)·W so that a rank's partitions change windows at
 *                different steps), the rest is skipped this epoch
 *  batch (b):    k = B/C rows from every partition:  [ p0: k | p1: k | ... | p(C-1): k ]
 *  rank r of N:  partitions [r·C/N, (r+1)·C/N)  =  batch positions [r·B/N, (r+1)·B/N)
 * </pre>
 *
 * <ul>
 *   <li>Partitions keep their rows for the whole run (a rank whose share fits in its cache reads
 *       it once); their sizes differ by at most one row.
 *   <li>Steps per epoch {@code S = floor(n/C) / k}; {@code n − S·B} rows (fewer than {@code B +
 *       C}) are skipped in each epoch: in every partition a run of fewer than {@code k + 1} rows
 *       at a random place of its epoch order, so every row is skipped equally often; none of this
 *       depends on N.
 *   <li>Augmentation seed of a sample: {@link #mix}{@code (seed, e, globalIndex)}.
 *   <li>Unshuffled plans ({@link #sequential}) use one partition in storage order (evaluation).
 * </ul>
 *
 * Thread-safe; per-epoch orders of the partitions asked for are built lazily and cached.
 */
public final class EpochPlan {

    private static final long ASSIGN_STREAM = 0x5EEDB10CL;
    private static final long SPAN_STREAM = 0x5EED5BA7L;
    private static final long WINDOW_STREAM = 0x5EED3140L;
    private static final long ROTATE_STREAM = 0x5EED0707L;
    private static final double GOLDEN = 0.6180339887498949;

    private final BlockIndex blocks;
    private final int batch;
    private final int k;
    private final long steps;
    private final int partitions;
    private final int window;
    private final long seed;
    private final boolean shuffle;
    private final long[][] spanStart; // per partition: global row of each piece's first row
    private final int[][] spanLength;
    private final int[][] spanBlock;
    private final Map<Long, PartitionOrder> orders = new LinkedHashMap<>(16, 0.75f, true);

    /**
     * @param blocks the table's blocks
     * @param globalBatch rows per global batch B
     * @param partitions canonical partitions C (divides B)
     * @param window rows of a partition shuffled together (W)
     * @param seed run seed
     * @param shuffle false: storage order (then use one partition)
     */
    public EpochPlan(BlockIndex blocks, int globalBatch, int partitions, int window, long seed, boolean shuffle) {
        if (partitions < 1 || window < 1) {
            throw new IllegalArgumentException("partitions and window must be >= 1, got " + partitions + ", "
                    + window);
        }
        if (globalBatch <= 0 || globalBatch % partitions != 0) {
            throw new IllegalArgumentException("the " + partitions + " partitions must divide the global batch "
                    + globalBatch);
        }
        this.blocks = blocks;
        this.batch = globalBatch;
        this.k = globalBatch / partitions;
        this.steps = blocks.numRows() / partitions / k;
        this.partitions = partitions;
        this.window = window;
        this.seed = seed;
        this.shuffle = shuffle;
        int[] order = permutation(blocks.numBlocks(), shuffle, seedOf(seed, ASSIGN_STREAM, 0, 0, 0));
        List<List<long[]>> parts = new ArrayList<>();
        for (int p = 0; p < partitions; p++) {
            parts.add(new ArrayList<>());
        }
        long n = blocks.numRows();
        long pos = 0;
        int p = 0;
        for (int b : order) { // cut the blocks, in order, at n·(p+1)/C
            long first = blocks.start(b);
            long left = blocks.rows(b);
            while (left > 0) {
                while (pos == end(n, p) && p < partitions - 1) {
                    p++;
                }
                long take = Math.min(left, end(n, p) - pos);
                parts.get(p).add(new long[] {first, take, b});
                first += take;
                left -= take;
                pos += take;
            }
        }
        spanStart = new long[partitions][];
        spanLength = new int[partitions][];
        spanBlock = new int[partitions][];
        for (int q = 0; q < partitions; q++) {
            List<long[]> s = parts.get(q);
            spanStart[q] = s.stream().mapToLong(x -> x[0]).toArray();
            spanLength[q] = s.stream().mapToInt(x -> Math.toIntExact(x[1])).toArray();
            spanBlock[q] = s.stream().mapToInt(x -> (int) x[2]).toArray();
        }
    }

    /** Storage order in batches of {@code globalBatch}, one partition, no shuffling (evaluation). */
    public static EpochPlan sequential(BlockIndex blocks, int globalBatch) {
        return new EpochPlan(blocks, globalBatch, 1, globalBatch, 0, false); // windows only pace the reads
    }

    private long end(long n, int p) {
        return n * (p + 1) / partitions;
    }

    public BlockIndex blocks() {
        return blocks;
    }

    /** @return rows per global batch B */
    public int globalBatch() {
        return batch;
    }

    /** @return rows per batch and partition, {@code k = B / C} */
    public int perPartition() {
        return k;
    }

    /** @return global batches per epoch: {@code floor(n/C) / k} */
    public long stepsPerEpoch() {
        return steps;
    }

    public int partitions() {
        return partitions;
    }

    public int window() {
        return window;
    }

    public boolean shuffled() {
        return shuffle;
    }

    /** SplitMix64 finaliser. */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** Combines (seed, epoch, index) into one well-mixed 64-bit seed (augmentation, soft codes). */
    public static long mix(long seed, long epoch, long index) {
        long h = mix64(seed + 0x9e3779b97f4a7c15L);
        h = mix64(h ^ (epoch * 0xd1b54a32d192ed03L + 0x632be59bd9b4e019L));
        return mix64(h ^ (index * 0x8cb92ba72f3d8dd7L + 0x2545f4914f6cdd1dL));
    }

    private static long seedOf(long seed, long stream, long epoch, long partition, long window) {
        return mix64(mix(seed, epoch, stream) ^ mix64(partition * 0x9e3779b97f4a7c15L + window));
    }

    private static double frac(double x) {
        return x - Math.floor(x);
    }

    private static int[] permutation(int n, boolean shuffle, long seed) {
        int[] o = new int[n];
        for (int i = 0; i < n; i++) {
            o[i] = i;
        }
        if (shuffle) {
            SplittableRandom rnd = new SplittableRandom(seed);
            for (int i = n - 1; i > 0; i--) { // Fisher–Yates
                int j = rnd.nextInt(i + 1);
                int t = o[i];
                o[i] = o[j];
                o[j] = t;
            }
        }
        return o;
    }

    /** Partitions {@code [r·C/N, (r+1)·C/N)} of rank {@code r}; fails unless {@code N} divides C. */
    public int[] partitionsOf(int rank, int worldSize) {
        if (worldSize < 1 || partitions % worldSize != 0) {
            throw new IllegalArgumentException(worldSize + " workers do not divide the " + partitions
                    + " canonical partitions");
        }
        if (rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank " + rank + " not in [0, " + worldSize + ")");
        }
        int per = partitions / worldSize;
        int[] ps = new int[per];
        for (int i = 0; i < per; i++) {
            ps[i] = rank * per + i;
        }
        return ps;
    }

    /**
     * The global row indices of rank {@code rank}'s slice of global batch {@code step} of {@code
     * epoch}: positions {@code [r·B/N, (r+1)·B/N)} of the batch.
     */
    public long[] slice(int epoch, long step, int rank, int worldSize) {
        if (step < 0 || step >= steps) {
            throw new IllegalArgumentException("step " + step + " not in [0, " + steps + ")");
        }
        int[] ps = partitionsOf(rank, worldSize);
        long[] idx = new long[ps.length * k];
        for (int i = 0; i < ps.length; i++) {
            PartitionOrder o = order(epoch, ps[i]);
            for (int j = 0; j < k; j++) {
                idx[i * k + j] = o.at(step * k + j);
            }
        }
        return idx;
    }

    /** The whole global batch (all ranks' slices in rank order). */
    public long[] batch(int epoch, long step) {
        return slice(epoch, step, 0, 1);
    }

    /** The order of partition {@code p} in {@code epoch} (cached; the last 4·C are kept). */
    synchronized PartitionOrder order(int epoch, int p) {
        long key = ((long) epoch << 32) | p;
        PartitionOrder o = orders.get(key);
        if (o == null) {
            o = new PartitionOrder(epoch, p);
            orders.put(key, o);
            if (orders.size() > 4 * partitions) {
                orders.remove(orders.keySet().iterator().next());
            }
        }
        return o;
    }

    /**
     * A contiguous range of one partition's epoch order that is shuffled as a unit, and the
     * blocks it reads.
     *
     * @param epoch epoch
     * @param partition partition
     * @param index window number within the partition's epoch order
     * @param first first position (in the partition's order) of the window
     * @param end end position (exclusive)
     * @param blocks ids of the blocks holding the window's rows
     */
    public record Window(int epoch, int partition, int index, long first, long end, int[] blocks) {

        /** @return first step that reads this window, given {@code k} rows per batch and partition */
        public long firstStep(int k) {
            return first / k;
        }

        /** @return last step that reads this window */
        public long lastStep(int k) {
            return (end - 1) / k;
        }
    }

    /**
     * One partition's row order in one epoch: positions {@code [0, S·k)}, shuffled within windows,
     * map to the partition's pieces (in this epoch's order, rotated).
     */
    final class PartitionOrder {
        private final int epoch;
        private final int partition;
        private final long[] starts; // global start of each piece, in this epoch's order
        private final int[] pieceBlock;
        private final long[] prefix; // position of each piece's first row; + total
        private final long rotation; // position 0 reads the pieces' row at this offset
        private final long offset; // window boundaries at j·W − offset
        private int cachedWindow = -1;
        private int[] cachedPerm;

        PartitionOrder(int epoch, int partition) {
            this.epoch = epoch;
            this.partition = partition;
            int m = spanStart[partition].length;
            int[] perm = permutation(m, shuffle, seedOf(seed, SPAN_STREAM, epoch, partition, 0));
            starts = new long[m];
            pieceBlock = new int[m];
            prefix = new long[m + 1];
            for (int i = 0; i < m; i++) {
                starts[i] = spanStart[partition][perm[i]];
                pieceBlock[i] = spanBlock[partition][perm[i]];
                prefix[i + 1] = prefix[i] + spanLength[partition][perm[i]];
            }
            long rows = prefix[m];
            rotation = shuffle && rows > 0
                    ? new SplittableRandom(seedOf(seed, ROTATE_STREAM, epoch, partition, 0)).nextLong(rows) : 0;
            // golden-ratio offsets: any run of consecutive partitions (one rank's) is evenly spread
            offset = shuffle ? (long) (frac(partition * GOLDEN) * window) : 0;
        }

        /** @return positions read per epoch: {@code S·k} */
        long size() {
            return steps * k;
        }

        /** @return number of windows */
        int windows() {
            return (int) ((size() + offset + window - 1) / window);
        }

        /** @return the window at position {@code pos} */
        int windowOf(long pos) {
            return (int) ((pos + offset) / window);
        }

        private long windowFirst(int j) {
            return Math.max(0, (long) j * window - offset);
        }

        private long windowEnd(int j) {
            return Math.min(size(), (long) (j + 1) * window - offset);
        }

        /** @return window {@code j} with its blocks */
        Window window(int j) {
            long first = windowFirst(j);
            long end = windowEnd(j);
            long rows = prefix[prefix.length - 1];
            long a = (first + rotation) % rows;
            long b = (end - 1 + rotation) % rows;
            int pa = piece(a);
            int pb = piece(b);
            boolean wraps = a + (end - first) > rows; // the rotated range runs past the last piece
            IntStream ids = wraps
                    ? IntStream.concat(Arrays.stream(pieceBlock, pa, pieceBlock.length),
                            Arrays.stream(pieceBlock, 0, pb + 1))
                    : Arrays.stream(pieceBlock, pa, pb + 1);
            return new Window(epoch, partition, j, first, end, ids.distinct().toArray());
        }

        /** @return the global row at position {@code pos} of this partition's epoch order */
        synchronized long at(long pos) {
            long q = pos;
            if (shuffle) {
                int j = windowOf(pos);
                long first = windowFirst(j);
                if (j != cachedWindow) {
                    cachedPerm = permutation((int) (windowEnd(j) - first), true,
                            seedOf(seed, WINDOW_STREAM, epoch, partition, j));
                    cachedWindow = j;
                }
                q = first + cachedPerm[(int) (pos - first)];
            }
            q = (q + rotation) % prefix[prefix.length - 1];
            int i = piece(q);
            return starts[i] + (q - prefix[i]);
        }

        /** Largest piece i with prefix[i] <= pos. */
        private int piece(long pos) {
            int lo = 0;
            int hi = starts.length - 1;
            while (lo < hi) {
                int mid = (lo + hi + 1) >>> 1;
                if (prefix[mid] <= pos) {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            return lo;
        }
    }
}
