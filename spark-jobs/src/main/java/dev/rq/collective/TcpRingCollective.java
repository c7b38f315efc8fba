package dev.rq.collective;

import dev.rq.model.distributed.Collective;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.function.BooleanSupplier;
import java.util.function.IntSupplier;

/**
 * A deterministic {@link Collective} over a TCP ring: rank {@code r} sends to rank
 * {@code (r+1) % N} ("next") and receives from rank {@code (r-1+N) % N} ("prev"), over two
 * separate connections (also for N = 2). Plain Java NIO on the caller's thread, no extra
 * dependencies. Thread-safe: every operation is {@code synchronized}, so calls from several threads
 * run one after another ({@link #close()} may be called from any thread at any time and makes a
 * blocked operation fail); but every rank must call the same operations in the same order with
 * same-length arrays (SPMD), so several calling threads need an order of their own. N = 1 opens no
 * sockets and every operation is a no-op.
 *
 * <h2>Setup ({@link Builder#connect()})</h2>
 * <ol>
 *   <li>Open a {@code ServerSocketChannel} on a port of the configured {@link PortRange} (any
 *       ephemeral port by default) of the configured host and keep it open through the rendezvous
 *       (no probe-then-close port race).
 *   <li>{@link Rendezvous#allGather} this rank's {@code host:port}; the result is indexed by rank.
 *   <li>Connect to next and, in one event loop, authenticate both ways ({@link RingSetup}, {@link
 *       RingAuth}: challenge and HMAC with a secret derived from the run token, which itself never
 *       travels): as connector towards next, as acceptor for every connection to our server until
 *       one proves to be prev; any other connection (zombie of an earlier attempt, another run, a
 *       stray client) is rejected with the reason and closed. The server socket is closed once the
 *       ring is up. All of it must finish within {@link Builder#setupTimeout} after the rendezvous.
 * </ol>
 *
 * <h2>Data framing</h2>
 * Every operation is a sequence of <i>steps</i>; in each step a rank sends at most one message to
 * next and receives at most one message from prev, concurrently (non-blocking, one selector), so
 * that neither direction can stall the other. A message is a 32-byte header followed by the
 * payload:
 * <pre>
 *   int  0x52510000 | opCode     (1 allReduce f32, 2 allReduce f64, 3 broadcast f32, 4 allGather, 5 barrier,
 *                                6 / 7 allReduce f32 / f64 in the tree order)
 *   int  sequence number         (count of operations on this collective, from 0)
 *   int  step                    (step index within the operation)
 *   int  block                   (segment index, source rank of an allGather block, or broadcast root)
 *   long total                   (array length of the operation; 0 for allGather/barrier)
 *   long payloadBytes
 * </pre>
 * The receiver checks every header field against what it expects itself, so ranks that call
 * different operations, or the same one with different lengths or roots, fail with a
 * "protocol mismatch" instead of silently mixing data. Floats and doubles travel little-endian.
 * Payloads are streamed through two fixed direct buffers of {@link Builder#chunkBytes} each
 * (send and receive), so memory use is bounded whatever the array size.
 *
 * <h2>allReduceSum: ring reduce-scatter + all-gather, fixed summation order</h2>
 * The array of length L is cut into N segments, segment s being {@code [s*L/N, (s+1)*L/N)}
 * (computed in long arithmetic; segments may be empty when L &lt; N).
 * <ul>
 *   <li>Reduce-scatter, steps k = 0..N-2: rank r sends segment {@code (r-k-1) mod N} and receives
 *       segment {@code (r-k-2) mod N}, replacing its own values x_r by {@code received + x_r}.
 *       Hence segment s starts at rank s+1 and travels s+1 → s+2 → ... → s, and for every element
 *       of segment s the sum is computed exactly as the left fold
 *       <pre>  ((...((x[s+1] + x[s+2]) + x[s+3]) + ...) + x[s+N-1]) + x[s]      (ranks mod N)</pre>
 *       in the operation's precision (float for float[], double for double[]). After N-1 steps
 *       rank r holds the final sum of segment r.
 *   <li>All-gather, steps k = N-1..2N-3: rank r sends segment {@code (r-k') mod N} and receives
 *       segment {@code (r-k'-1) mod N} ({@code k' = k-(N-1)}), copying the received bits. Every
 *       rank therefore ends with the owner's bits of every segment: bit-identical on all ranks.
 * </ul>
 * The result depends only on N, L and the inputs, never on timing or on the chunk size (chunks
 * only cut the stream; the arithmetic is element-wise). Bytes sent per rank: 2(N-1)/N of the
 * array.
 *
 * <h2>allReduceSum in the tree order ({@link Builder#treeOrder})</h2>
 * Every element is summed in the pairwise midpoint tree over the ranks, {@code sum[lo, hi) = sum[lo, mid)
 * + sum[mid, hi)}, {@code mid = (lo + hi) / 2} ({@code dev.rq.model.distributed.TreeSum} of the N ranks'
 * values): the order of one process that sums the ranks' micro-batch positions in its tree, whenever each
 * rank's share is a subtree (one micro-batch per rank, or N a power of two). The order does not depend on
 * an element's position. The same segments and all-gather; the reduce-scatter either
 * <ul>
 *   <li>over the <b>mesh</b> ({@link Builder#mesh}, default): in step d = 1..N-1 rank r sends its values
 *       of segment r+d straight to rank r+d and receives rank r-d's values of segment r, over extra
 *       connection pairs (rings of stride d, each set up like the ring after it, addresses exchanged over
 *       the ring); then it sums the N pieces of segment r in the tree. Bytes and steps are the ring
 *       order's; N - 1 peers per rank; or
 *   <li><b>round the ring</b> ({@code mesh(false)}): in step k segment s carries the sums of the largest
 *       tree nodes whose ranks it has visited ({@link RingTree}); the receiving rank adds its own values
 *       as a leaf and completes the nodes that now have both halves. No extra connections, but a message
 *       holds up to about 2 log2(N) segment arrays: the reduce-scatter moves {@code
 *       RingTree.reduceScatterFactor(N)} times the ring order's bytes (1.5 for N = 3, 5/3 for N = 4, 2.6
 *       for N = 8).
 * </ul>
 * For N = 2 both orders are one addition ({@code a + b = b + a} in IEEE arithmetic), so the tree order
 * runs the ring's steps. Host memory: reused stores of at most one array's length. The op codes differ
 * (6 f32, 7 f64), so ranks configured with different orders fail with a protocol mismatch.
 *
 * <h2>broadcast, allGather, barrier</h2>
 * {@code broadcast} is a pipelined chain root → root+1 → ... → root-1 (one step; relays forward
 * each chunk as soon as it has arrived). {@code allGather} is a ring all-gather of N-1 steps
 * (at step k rank r forwards the block of rank {@code (r-k) mod N}); block lengths travel in the
 * headers, so they may differ. {@code barrier} is an allGather of empty blocks: no rank returns
 * before every rank has entered it.
 *
 * <h2>Timeouts, failures, cancellation</h2>
 * Each step fails with a {@link CollectiveTimeoutException} naming the peer when <b>no byte moves
 * in any pending direction for {@link Builder#timeout}</b> (an idle timeout: it also bounds how
 * far apart in time ranks may enter the same operation, so set it above the largest expected
 * skew between ranks, e.g. the slowest forward/backward). Setup (connect, handshake) must finish
 * within one timeout after the rendezvous. A closed or reset connection fails at once. The cancel
 * check ({@link Builder#cancelled}, e.g. {@code TaskContext::isInterrupted}) and the thread's
 * interrupt flag are polled at least every {@link Builder#pollInterval} (default 100 ms). Any
 * failure closes all of this rank's sockets, which makes its neighbours fail at once, so a
 * failure spreads round the ring within about one timeout; the instance is unusable afterwards.
 */
public final class TcpRingCollective implements Collective {

    private static final int FRAME_MAGIC = 0x52510000;
    private static final int HEADER_BYTES = 32;

    private static final int OP_ALLREDUCE_F32 = 1;
    private static final int OP_ALLREDUCE_F64 = 2;
    private static final int OP_BROADCAST_F32 = 3;
    private static final int OP_ALLGATHER = 4;
    private static final int OP_BARRIER = 5;
    private static final int OP_TREE_ALLREDUCE_F32 = 6;
    private static final int OP_TREE_ALLREDUCE_F64 = 7;

    private final int rank;
    private final int worldSize;
    private final int next;
    private final int prev;
    private final long timeoutNanos;
    private final long pollMillis;
    private final BooleanSupplier cancelled;
    private final boolean tree; // allReduceSum in the ranks' tree order (else the ring's)
    private TcpRingCollective[] strided; // mesh: [d] sends to rank + d, receives from rank - d (d >= 2)

    private final int listenPort;
    private final SocketChannel out; // to next (null if N = 1)
    private final SocketChannel in; // from prev (null if N = 1)
    private final Selector selector;
    private final SelectionKey outKey;
    private final SelectionKey inKey;
    private final ByteBuffer sendBuf;
    private final ByteBuffer recvBuf; // write mode between calls; may hold the start of the next message
    private final float[] floatScratch;
    private final double[] doubleScratch;
    private final float[][] floatStores = new float[2][0]; // tree order: received and forwarded nodes
    private final double[][] doubleStores = new double[2][0];

    private int sequence;
    private long firstArrival; // nanoTime of the first header received in the current allReduce (0: none yet)
    private long lastWaitNanos; // of the last allReduce: its start to the first header received
    private volatile boolean closed;
    private CollectiveException broken;

    /** Used by {@link RingSetup} once the ring is connected (or directly for N = 1, port 0). */
    TcpRingCollective(Builder b, SocketChannel out, SocketChannel in, int listenPort) throws IOException {
        this.listenPort = listenPort;
        this.rank = b.rank;
        this.worldSize = b.worldSize;
        this.next = (b.rank + b.stride) % b.worldSize;
        this.prev = (b.rank - b.stride + b.worldSize) % b.worldSize;
        this.timeoutNanos = b.timeout.toNanos();
        this.pollMillis = Math.max(1, b.pollInterval.toMillis());
        this.cancelled = b.cancelled;
        this.tree = b.treeOrder;
        this.out = out;
        this.in = in;
        if (worldSize > 1) {
            selector = Selector.open();
            outKey = out.register(selector, 0);
            inKey = in.register(selector, 0);
            sendBuf = ByteBuffer.allocateDirect(b.chunkBytes).order(ByteOrder.LITTLE_ENDIAN);
            recvBuf = ByteBuffer.allocateDirect(b.chunkBytes).order(ByteOrder.LITTLE_ENDIAN);
            floatScratch = new float[b.chunkBytes / Float.BYTES];
            doubleScratch = new double[b.chunkBytes / Double.BYTES];
        } else {
            selector = null;
            outKey = null;
            inKey = null;
            sendBuf = null;
            recvBuf = null;
            floatScratch = null;
            doubleScratch = null;
        }
    }

    /** @return a builder for one rank of a ring */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int worldSize() {
        return worldSize;
    }

    /** @return the port this rank listened on for prev during the setup (0 for N = 1) */
    public int listenPort() {
        return listenPort;
    }

    // ------------------------------------------------------------------------------------------
    // Operations
    // ------------------------------------------------------------------------------------------

    @Override
    public synchronized void allReduceSum(float[] data) {
        Objects.requireNonNull(data, "data");
        allReduce(tree ? OP_TREE_ALLREDUCE_F32 : OP_ALLREDUCE_F32, "allReduceSum(float[" + data.length + "])",
                new FloatElements(data), data.length);
    }

    @Override
    public synchronized void allReduceSum(double[] data) {
        Objects.requireNonNull(data, "data");
        allReduce(tree ? OP_TREE_ALLREDUCE_F64 : OP_ALLREDUCE_F64, "allReduceSum(double[" + data.length + "])",
                new DoubleElements(data), data.length);
    }

    /** @return whether {@link #allReduceSum} sums in the ranks' tree order ({@link Builder#treeOrder}) */
    public boolean treeOrder() {
        return tree;
    }

    /** @return the ranks this rank sends to in an allReduceSum: N - 1 over the mesh, else next only (0 for N = 1) */
    int peers() {
        return worldSize == 1 ? 0 : strided != null ? worldSize - 1 : 1;
    }

    /** Ring reduce-scatter then all-gather of {@code length} elements (see the class comment). */
    private void allReduce(int code, String name, Elements data, int length) {
        Op op = begin(code, name, length);
        if (op == null) {
            return;
        }
        long start = System.nanoTime();
        firstArrival = 0;
        try {
            int n = worldSize;
            boolean treeSteps = tree && n > 2; // N = 2: one addition, a + b = b + a: the ring's steps
            if (treeSteps && strided != null) {
                meshReduceScatter(op, data, length);
            }
            for (int k = 0; k < n - 1 && treeSteps && strided == null; k++) {
                treeStep(op, k, data, length);
            }
            for (int k = 0; k < n - 1 && !treeSteps; k++) { // reduce-scatter: received partial + own value
                int s = mod(rank - k - 1);
                int t = mod(rank - k - 2);
                exchange(op, k, s, new ArraySource(data, segStart(s, length), segStart(s + 1, length)),
                        t, bytes -> new ArraySink(data, segStart(t, length), segStart(t + 1, length), true, op, bytes));
            }
            for (int k = 0; k < n - 1; k++) { // all-gather: copy the owners' bits
                int s = mod(rank - k);
                int t = mod(rank - k - 1);
                exchange(op, n - 1 + k, s, new ArraySource(data, segStart(s, length), segStart(s + 1, length)),
                        t, bytes -> new ArraySink(data, segStart(t, length), segStart(t + 1, length), false, op, bytes));
            }
            lastWaitNanos = firstArrival - start;
        } catch (RuntimeException e) {
            throw fail(op, e);
        }
    }

    /**
     * Step k of the tree-order reduce-scatter: send the nodes that segment {@code s = r-k-1} carries
     * (after this rank added itself in step k-1; in step 0 this rank's own values), receive those of
     * segment {@code t = r-k-2}, add this rank's leaf to them ({@link RingTree}): into the next step's
     * outgoing store, or in the last step, when t = r is complete, into {@code data}.
     */
    private void treeStep(Op op, int k, Elements data, int length) {
        int n = worldSize;
        int s = mod(rank - k - 1);
        int t = mod(rank - k - 2);
        int sLen = segStart(s + 1, length) - segStart(s, length);
        int tLen = segStart(t + 1, length) - segStart(t, length);
        Source src = k == 0 ? new ArraySource(data, segStart(s, length), segStart(s + 1, length))
                : new ArraySource(data.store(1, 0), 0, RingTree.carried(n, s + 1, k + 1).size() * sLen);
        List<int[]> in = RingTree.carried(n, t + 1, k + 1); // visited t+1 .. r-1
        Elements recv = data.store(0, in.size() * tLen);
        exchange(op, k, s, src, t, bytes -> new ArraySink(recv, 0, in.size() * tLen, false, op, bytes));
        List<int[]> next = RingTree.carried(n, t + 1, k + 2); // and this rank
        Elements dst = k == n - 2 ? data : data.store(1, next.size() * tLen);
        int at = k == n - 2 ? segStart(t, length) : 0;
        for (int i = 0; i < next.size(); i++, at += tLen) {
            int[] node = next.get(i);
            Ref v = node(node[0], node[1], in, recv, data, segStart(t, length), dst, at, tLen);
            if (v.e() != dst || v.at() != at) {
                dst.copy(at, v.e(), v.at(), tLen);
            }
        }
    }

    /**
     * The tree order's reduce-scatter over the mesh ({@link Builder#mesh}): in step d = 1..N-1 this rank
     * sends its values of segment {@code r+d} straight to rank r+d (over the ring of stride d) and receives
     * rank r-d's values of its own segment r; then it sums the N pieces of segment r in the midpoint tree
     * over the ranks into {@code data}. Each rank sends (N-1)/N of the array, as in the ring order.
     */
    private void meshReduceScatter(Op op, Elements data, int length) {
        int n = worldSize;
        int from0 = segStart(rank, length);
        int len = segStart(rank + 1, length) - from0;
        Elements pieces = data.store(0, n * len); // piece q: rank q's values of segment r
        pieces.copy(rank * len, data, from0, len);
        for (int d = 1; d < n; d++) {
            TcpRingCollective c = d == 1 ? this : strided[d];
            int to = mod(rank + d);
            int q = mod(rank - d);
            c.exchange(op, d - 1, to, new ArraySource(data, segStart(to, length), segStart(to + 1, length)), rank,
                    bytes -> c.new ArraySink(pieces, q * len, (q + 1) * len, false, op, bytes));
        }
        treeSum(pieces, 0, n, len);
        data.copy(from0, pieces, 0, len);
    }

    /** Sums pieces {@code [lo, hi)} (of {@code len} elements each) in the midpoint tree, into piece {@code lo}. */
    private static void treeSum(Elements pieces, int lo, int hi, int len) {
        if (hi - lo > 1) {
            int mid = (lo + hi) >>> 1;
            treeSum(pieces, lo, mid, len);
            treeSum(pieces, mid, hi, len);
            pieces.sum(lo * len, pieces, lo * len, pieces, mid * len, len);
        }
    }

    /** Where a node's sums are: elements {@code [at, at + len)} of {@code e}. */
    private record Ref(Elements e, int at) {}

    /**
     * @return the sums of node {@code [lo, hi)}: a received node, this rank's leaf ({@code data} at
     *     {@code own}), or {@code left + right} computed into {@code dst} at {@code at}
     */
    private Ref node(int lo, int hi, List<int[]> in, Elements recv, Elements data, int own, Elements dst, int at,
            int len) {
        int i = RingTree.indexOf(in, lo, hi);
        if (i >= 0) {
            return new Ref(recv, i * len);
        }
        if (hi - lo == 1) {
            return new Ref(data, own); // lo == rank: the only leaf not received
        }
        int mid = (lo + hi) >>> 1;
        Ref left = node(lo, mid, in, recv, data, own, dst, at, len);
        Ref right = node(mid, hi, in, recv, data, own, dst, at, len);
        dst.sum(at, left.e(), left.at(), right.e(), right.at(), len);
        return new Ref(dst, at);
    }

    @Override
    public synchronized long lastAllReduceWaitNanos() {
        return lastWaitNanos;
    }

    @Override
    public synchronized void broadcast(float[] data, int root) {
        Objects.requireNonNull(data, "data");
        if (root < 0 || root >= worldSize) {
            throw new IllegalArgumentException("root " + root + " out of range for " + worldSize + " ranks");
        }
        Op op = begin(OP_BROADCAST_F32, "broadcast(float[" + data.length + "], root " + root + ")", data.length);
        if (op == null) {
            return;
        }
        try {
            Elements a = new FloatElements(data);
            int position = mod(rank - root); // 0 = root, N-1 = end of the chain
            if (position == 0) {
                exchange(op, 0, root, new ArraySource(a, 0, data.length), -1, null);
            } else if (position == worldSize - 1) {
                exchange(op, 0, -1, null, root, bytes -> new ArraySink(a, 0, data.length, false, op, bytes));
            } else {
                // Relay: forward whatever part of the array has already arrived.
                ArraySink[] sink = new ArraySink[1];
                ArraySource relay = new ArraySource(a, 0, data.length,
                        () -> sink[0] == null ? 0 : sink[0].position());
                exchange(op, 0, root, relay, root,
                        bytes -> sink[0] = new ArraySink(a, 0, data.length, false, op, bytes));
            }
        } catch (RuntimeException e) {
            throw fail(op, e);
        }
    }

    @Override
    public synchronized List<byte[]> allGather(byte[] data) {
        Objects.requireNonNull(data, "data");
        return gather(OP_ALLGATHER, "allGather(byte[" + data.length + "])", data);
    }

    @Override
    public synchronized void barrier() {
        gather(OP_BARRIER, "barrier()", new byte[0]);
    }

    private List<byte[]> gather(int opCode, String name, byte[] data) {
        byte[][] blocks = new byte[worldSize][];
        blocks[rank] = data.clone();
        Op op = begin(opCode, name, 0);
        if (op == null) {
            return List.of(blocks);
        }
        try {
            for (int k = 0; k < worldSize - 1; k++) {
                int s = mod(rank - k);
                int t = mod(rank - k - 1);
                exchange(op, k, s, new BytesSource(blocks[s]), t, bytes -> {
                    if (bytes > Integer.MAX_VALUE - 16) {
                        throw protocolError(op, prev, "block of " + bytes + " bytes is too large");
                    }
                    blocks[t] = new byte[(int) bytes];
                    return new BytesSink(blocks[t]);
                });
            }
        } catch (RuntimeException e) {
            throw fail(op, e);
        }
        return List.of(blocks);
    }

    /** Closes all sockets; idempotent. Peers blocked in an operation with this rank fail at once. */
    @Override
    public void close() {
        closed = true;
        TcpRingCollective[] s = strided;
        if (s != null) {
            for (TcpRingCollective c : s) {
                closeQuietly(c);
            }
        }
        closeQuietly(out);
        closeQuietly(in);
        if (selector != null) {
            try {
                selector.close();
            } catch (IOException ignored) {
                // nothing to do
            }
        }
    }

    @Override
    public String toString() {
        return "TcpRingCollective[rank " + rank + " of " + worldSize + ", next " + next + ", prev " + prev + "]";
    }

    // ------------------------------------------------------------------------------------------
    // The step engine
    // ------------------------------------------------------------------------------------------

    /** An operation in progress: what the headers of its messages must carry. */
    private record Op(int code, int seq, String name, long total) {}

    /** Produces payload bytes; may temporarily have nothing available (broadcast relay). */
    private interface Source {
        long totalBytes();

        long remainingBytes();

        /** Puts as many available bytes as fit into {@code buf} (write mode). */
        void fill(ByteBuffer buf);
    }

    /** Consumes payload bytes. */
    private interface Sink {
        long remainingBytes();

        /** Consumes whole elements from {@code buf} (read mode), at most {@link #remainingBytes()}. */
        void drain(ByteBuffer buf);
    }

    private interface SinkFactory {
        /** Called once the header has arrived; validates the payload length. */
        Sink create(long payloadBytes);
    }

    private Op begin(int code, String name, long total) {
        if (broken != null) {
            throw new CollectiveException(prefix(name + " #" + sequence) + "collective is broken since an earlier failure: "
                    + broken.getMessage(), name, broken.peerRank(), broken);
        }
        if (closed) {
            throw new CollectiveException(prefix(name) + "collective is closed", name, -1, null);
        }
        Op op = new Op(code, sequence++, name + " #" + (sequence - 1), total);
        return worldSize == 1 ? null : op;
    }

    /**
     * One step: send one message (header + {@code src}) to next and receive one from prev, both
     * at once. {@code sendBlock < 0} / {@code sinks == null} mean nothing to send / receive.
     */
    private void exchange(Op op, int step, int sendBlock, Source src, int recvBlock, SinkFactory sinks) {
        boolean sending = sendBlock >= 0;
        boolean receiving = sinks != null;
        if (sending) {
            sendBuf.clear();
            sendBuf.order(ByteOrder.BIG_ENDIAN)
                    .putInt(FRAME_MAGIC | op.code).putInt(op.seq).putInt(step).putInt(sendBlock)
                    .putLong(op.total).putLong(src.totalBytes());
            sendBuf.order(ByteOrder.LITTLE_ENDIAN);
            src.fill(sendBuf);
            sendBuf.flip();
        }
        Sink sink = null;
        long lastProgress = System.nanoTime();
        while (sending || receiving) {
            checkCancelled(op);
            boolean progress = false;
            if (sending) {
                if (!sendBuf.hasRemaining() && src.remainingBytes() > 0) {
                    sendBuf.clear();
                    src.fill(sendBuf);
                    sendBuf.flip();
                }
                if (sendBuf.hasRemaining()) {
                    progress |= write(op, sendBuf) > 0;
                }
                sending = sendBuf.hasRemaining() || src.remainingBytes() > 0;
            }
            if (receiving) {
                sink = consume(op, step, recvBlock, sinks, sink); // bytes already buffered first
                if (sink == null || sink.remainingBytes() > 0) {
                    int n = read(op, recvBuf);
                    progress |= n > 0;
                    sink = consume(op, step, recvBlock, sinks, sink);
                    if (n < 0 && (sink == null || sink.remainingBytes() > 0)) {
                        throw new CollectiveException(prefix(op.name) + "rank " + prev
                                + " (prev) closed the connection in step " + step
                                + " (it failed or was stopped; see its log)", op.name, prev, null);
                    }
                }
                receiving = sink == null || sink.remainingBytes() > 0;
            }
            if (progress) {
                lastProgress = System.nanoTime();
            } else if (sending || receiving) {
                awaitIo(op, step, sending && sendBuf.hasRemaining(), receiving, sending, lastProgress);
            }
        }
    }

    /** Parses the header if needed and feeds buffered payload bytes to the sink. */
    private Sink consume(Op op, int step, int block, SinkFactory sinks, Sink sink) {
        recvBuf.flip();
        try {
            if (sink == null && recvBuf.remaining() >= HEADER_BYTES) {
                recvBuf.order(ByteOrder.BIG_ENDIAN);
                int magic = recvBuf.getInt();
                int seq = recvBuf.getInt();
                int gotStep = recvBuf.getInt();
                int gotBlock = recvBuf.getInt();
                long total = recvBuf.getLong();
                long payload = recvBuf.getLong();
                recvBuf.order(ByteOrder.LITTLE_ENDIAN);
                if (magic != (FRAME_MAGIC | op.code) || seq != op.seq || gotStep != step || gotBlock != block
                        || total != op.total || payload < 0) {
                    throw protocolError(op, prev, String.format(
                            "expected [op %d, seq %d, step %d, block %d, length %d] but rank %d sent "
                                    + "[magic/op 0x%08x, seq %d, step %d, block %d, length %d]: the ranks are not "
                                    + "calling the same operations with the same arguments",
                            op.code, op.seq, step, block, op.total, prev, magic, seq, gotStep, gotBlock, total));
                }
                sink = sinks.create(payload);
                if (firstArrival == 0) {
                    firstArrival = System.nanoTime();
                }
            }
            if (sink != null) {
                sink.drain(recvBuf);
            }
        } finally {
            recvBuf.compact();
        }
        return sink;
    }

    /** Waits until a pending direction can move, the poll interval passes, or the timeout fires. */
    private void awaitIo(Op op, int step, boolean wantWrite, boolean wantRead, boolean sending, long lastProgress) {
        long idle = System.nanoTime() - lastProgress;
        if (idle >= timeoutNanos) {
            String what;
            int peer;
            if (wantRead) {
                what = "no data from rank " + prev + " (prev)";
                peer = prev;
            } else if (sending) {
                what = "rank " + next + " (next) is not reading";
                peer = next;
            } else {
                what = "no progress";
                peer = -1;
            }
            throw new CollectiveTimeoutException(prefix(op.name) + "timed out in step " + step + " after "
                    + idle / 1_000_000 + " ms: " + what + " (hung, dead, or far behind)", op.name, peer);
        }
        try {
            // While we still owe next bytes, also watch our outgoing connection for EOF/reset, so a
            // dead next is noticed even if its receive buffer still has room. Once our message is
            // out, next may legitimately finish and close, so we stop watching.
            outKey.interestOps((wantWrite ? SelectionKey.OP_WRITE : 0) | (sending ? SelectionKey.OP_READ : 0));
            inKey.interestOps(wantRead ? SelectionKey.OP_READ : 0);
            long waitMs = Math.min(pollMillis, Math.max(1, (timeoutNanos - idle) / 1_000_000));
            selector.select(waitMs);
            boolean nextSpoke = sending && outKey.isValid() && outKey.isReadable()
                    && selector.selectedKeys().contains(outKey);
            selector.selectedKeys().clear();
            if (nextSpoke) {
                checkNextAlive(op);
            }
        } catch (IOException | ClosedSelectorException e) {
            if (closed) {
                throw closedError(op);
            }
            throw new CollectiveException(prefix(op.name) + "selector failed: " + e, op.name, -1, e);
        }
    }

    /** Next never sends on our outgoing connection after the handshake: readable means EOF or reset. */
    private void checkNextAlive(Op op) {
        ByteBuffer probe = ByteBuffer.allocate(1);
        int n;
        try {
            n = out.read(probe);
        } catch (IOException e) {
            throw ioError(op, next, "next", e);
        }
        if (n < 0) {
            throw new CollectiveException(prefix(op.name) + "rank " + next
                    + " (next) closed the connection (it failed or was stopped; see its log)", op.name, next, null);
        }
        if (n > 0) {
            throw protocolError(op, next, "rank " + next + " sent unexpected data on the outgoing connection");
        }
    }

    private int write(Op op, ByteBuffer buf) {
        try {
            return out.write(buf);
        } catch (IOException e) {
            throw ioError(op, next, "next", e);
        }
    }

    private int read(Op op, ByteBuffer buf) {
        try {
            return in.read(buf);
        } catch (IOException e) {
            throw ioError(op, prev, "prev", e);
        }
    }

    private CollectiveException ioError(Op op, int peer, String role, IOException e) {
        if (e instanceof ClosedByInterruptException || Thread.currentThread().isInterrupted()) {
            return new CollectiveException(prefix(op.name) + "interrupted", op.name, -1, e);
        }
        if (closed) {
            return closedError(op);
        }
        return new CollectiveException(prefix(op.name) + "connection to rank " + peer + " (" + role + ") failed: " + e,
                op.name, peer, e);
    }

    private void checkCancelled(Op op) {
        if (Thread.currentThread().isInterrupted()) {
            throw new CollectiveException(prefix(op.name) + "interrupted", op.name, -1, null);
        }
        if (cancelled.getAsBoolean()) {
            throw new CollectiveException(prefix(op.name) + "cancelled", op.name, -1, null);
        }
        if (closed) {
            throw closedError(op);
        }
    }

    private CollectiveException closedError(Op op) {
        return new CollectiveException(prefix(op.name) + "collective was closed during the call (close() from "
                + "another thread, or the task ended)", op.name, -1, null);
    }

    private CollectiveException protocolError(Op op, int peer, String detail) {
        return new CollectiveException(prefix(op.name) + "protocol mismatch with rank " + peer + ": " + detail,
                op.name, peer, null);
    }

    /** Marks this collective broken and closes it, so that the neighbours fail fast too. */
    private CollectiveException fail(Op op, RuntimeException e) {
        CollectiveException ce = e instanceof CollectiveException c
                ? c
                : new CollectiveException(prefix(op.name) + "failed: " + e, op.name, -1, e);
        broken = ce;
        close();
        return ce;
    }

    private String prefix(String opName) {
        return "[rank " + rank + "/" + worldSize + "] " + opName + ": ";
    }

    private int mod(int i) {
        return Math.floorMod(i, worldSize);
    }

    /** Start of segment {@code s} of an array of {@code length} elements: {@code s*L/N}. */
    private int segStart(int s, int length) {
        return segmentStart(s, length, worldSize);
    }

    /**
     * @return the first index of segment {@code s} (0 ≤ s ≤ n) when {@code length} elements are
     *     cut into {@code n} segments: {@code floor(s * length / n)}
     */
    static int segmentStart(int s, int length, int n) {
        return (int) ((long) s * length / n);
    }

    // ------------------------------------------------------------------------------------------
    // Sources and sinks (little-endian payloads)
    // ------------------------------------------------------------------------------------------

    /**
     * A {@code float[]} or {@code double[]} as little-endian elements of a fixed width: the only
     * element-type-specific code of the ring, shared by {@link ArraySource} and {@link ArraySink}.
     */
    private interface Elements {
        /** @return bytes per element */
        int width();

        /** Writes elements {@code [from, from+n)} to {@code buf}. */
        void put(ByteBuffer buf, int from, int n);

        /** Overwrites elements {@code [from, from+n)} with the next {@code n} of {@code buf}. */
        void get(ByteBuffer buf, int from, int n);

        /** {@code a[i] = received + a[i]} for elements {@code [from, from+n)}: the fixed summation order. */
        void add(ByteBuffer buf, int from, int n);

        /** {@code a[at+i] = x[xa+i] + y[ya+i]} for i in [0, n) (x, y of this type; may be this array). */
        void sum(int at, Elements x, int xa, Elements y, int ya, int n);

        /** {@code a[at+i] = x[xa+i]} for i in [0, n). */
        void copy(int at, Elements x, int xa, int n);

        /** @return reused store {@code which} (0 or 1) of this type, grown to at least {@code n} elements */
        Elements store(int which, int n);
    }

    private final class FloatElements implements Elements {
        private final float[] a;

        FloatElements(float[] a) {
            this.a = a;
        }

        @Override
        public int width() {
            return Float.BYTES;
        }

        @Override
        public void put(ByteBuffer buf, int from, int n) {
            buf.asFloatBuffer().put(a, from, n);
        }

        @Override
        public void get(ByteBuffer buf, int from, int n) {
            buf.asFloatBuffer().get(a, from, n);
        }

        @Override
        public void add(ByteBuffer buf, int from, int n) {
            float[] in = floatScratch; // n <= capacity of recvBuf / 4 == scratch length
            buf.asFloatBuffer().get(in, 0, n);
            for (int i = 0; i < n; i++) {
                a[from + i] = in[i] + a[from + i]; // partial sum from prev, plus our own value
            }
        }

        @Override
        public void sum(int at, Elements x, int xa, Elements y, int ya, int n) {
            float[] p = ((FloatElements) x).a;
            float[] q = ((FloatElements) y).a;
            for (int i = 0; i < n; i++) {
                a[at + i] = p[xa + i] + q[ya + i];
            }
        }

        @Override
        public void copy(int at, Elements x, int xa, int n) {
            System.arraycopy(((FloatElements) x).a, xa, a, at, n);
        }

        @Override
        public Elements store(int which, int n) {
            if (floatStores[which].length < n) {
                floatStores[which] = new float[n];
            }
            return new FloatElements(floatStores[which]);
        }
    }

    private final class DoubleElements implements Elements {
        private final double[] a;

        DoubleElements(double[] a) {
            this.a = a;
        }

        @Override
        public int width() {
            return Double.BYTES;
        }

        @Override
        public void put(ByteBuffer buf, int from, int n) {
            buf.asDoubleBuffer().put(a, from, n);
        }

        @Override
        public void get(ByteBuffer buf, int from, int n) {
            buf.asDoubleBuffer().get(a, from, n);
        }

        @Override
        public void add(ByteBuffer buf, int from, int n) {
            double[] in = doubleScratch;
            buf.asDoubleBuffer().get(in, 0, n);
            for (int i = 0; i < n; i++) {
                a[from + i] = in[i] + a[from + i];
            }
        }

        @Override
        public void sum(int at, Elements x, int xa, Elements y, int ya, int n) {
            double[] p = ((DoubleElements) x).a;
            double[] q = ((DoubleElements) y).a;
            for (int i = 0; i < n; i++) {
                a[at + i] = p[xa + i] + q[ya + i];
            }
        }

        @Override
        public void copy(int at, Elements x, int xa, int n) {
            System.arraycopy(((DoubleElements) x).a, xa, a, at, n);
        }

        @Override
        public Elements store(int which, int n) {
            if (doubleStores[which].length < n) {
                doubleStores[which] = new double[n];
            }
            return new DoubleElements(doubleStores[which]);
        }
    }

    /** Elements {@code [start, end)} of an array, sent as far as {@code available} allows (broadcast relay). */
    private static final class ArraySource implements Source {
        private final Elements a;
        private final int start;
        private final int end;
        private final IntSupplier available; // exclusive upper bound of what may be sent now
        private int pos;

        ArraySource(Elements a, int start, int end) {
            this(a, start, end, () -> end);
        }

        ArraySource(Elements a, int start, int end, IntSupplier available) {
            this.a = a;
            this.start = start;
            this.pos = start;
            this.end = end;
            this.available = available;
        }

        @Override
        public long totalBytes() {
            return (long) (end - start) * a.width();
        }

        @Override
        public long remainingBytes() {
            return (long) (end - pos) * a.width();
        }

        @Override
        public void fill(ByteBuffer buf) {
            int n = Math.min(Math.min(end, available.getAsInt()) - pos, buf.remaining() / a.width());
            if (n > 0) {
                a.put(buf, pos, n);
                buf.position(buf.position() + n * a.width());
                pos += n;
            }
        }
    }

    /** Receives elements {@code [start, end)} of an array, added to ({@code add}) or replacing its values. */
    private final class ArraySink implements Sink {
        private final Elements a;
        private final int end;
        private final boolean add;
        private int pos;

        ArraySink(Elements a, int start, int end, boolean add, Op op, long payloadBytes) {
            if (payloadBytes != (long) (end - start) * a.width()) {
                throw protocolError(op, prev, "expected " + (end - start) + " elements of " + a.width() + " bytes, got "
                        + payloadBytes + " bytes");
            }
            this.a = a;
            this.pos = start;
            this.end = end;
            this.add = add;
        }

        int position() {
            return pos;
        }

        @Override
        public long remainingBytes() {
            return (long) (end - pos) * a.width();
        }

        @Override
        public void drain(ByteBuffer buf) {
            int n = Math.min(end - pos, buf.remaining() / a.width());
            if (n <= 0) {
                return;
            }
            if (add) {
                a.add(buf, pos, n);
            } else {
                a.get(buf, pos, n);
            }
            buf.position(buf.position() + n * a.width());
            pos += n;
        }
    }

    private static final class BytesSource implements Source {
        private final byte[] a;
        private int pos;

        BytesSource(byte[] a) {
            this.a = a;
        }

        @Override
        public long totalBytes() {
            return a.length;
        }

        @Override
        public long remainingBytes() {
            return a.length - pos;
        }

        @Override
        public void fill(ByteBuffer buf) {
            int n = Math.min(a.length - pos, buf.remaining());
            buf.put(a, pos, n);
            pos += n;
        }
    }

    private static final class BytesSink implements Sink {
        private final byte[] a;
        private int pos;

        BytesSink(byte[] a) {
            this.a = a;
        }

        @Override
        public long remainingBytes() {
            return a.length - pos;
        }

        @Override
        public void drain(ByteBuffer buf) {
            int n = Math.min(a.length - pos, buf.remaining());
            buf.get(a, pos, n);
            pos += n;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Setup and handshake
    // ------------------------------------------------------------------------------------------

    /** Configuration of one rank; {@link #connect()} performs the setup described on the class. */
    public static final class Builder {
        int rank = -1;
        int worldSize = -1;
        String host = "127.0.0.1";
        Rendezvous rendezvous;
        String runToken = "";
        int attempt;
        Duration timeout = Duration.ofSeconds(60);
        Duration setupTimeout;
        PortRange ports = PortRange.ANY;
        Duration pollInterval = Duration.ofMillis(100);
        BooleanSupplier cancelled = () -> false;
        int chunkBytes = 1 << 20;
        boolean treeOrder;
        boolean mesh = true;
        int stride = 1; // a ring of stride d: next = rank + d, prev = rank - d (the mesh's extra rings)

        private Builder() {}

        /** This rank, in {@code [0, worldSize)}. */
        public Builder rank(int rank) {
            this.rank = rank;
            return this;
        }

        /** Number of ranks N. */
        public Builder worldSize(int worldSize) {
            this.worldSize = worldSize;
            return this;
        }

        /** Host or IP to listen on and to advertise to the peers (default 127.0.0.1). */
        public Builder host(String host) {
            this.host = Objects.requireNonNull(host);
            return this;
        }

        /** How the ranks exchange their addresses (required when N > 1). */
        public Builder rendezvous(Rendezvous rendezvous) {
            this.rendezvous = rendezvous;
            return this;
        }

        /**
         * Identifies the run (and stage attempt); peers prove they know it by HMAC, and connections
         * that cannot are rejected. Make it unguessable (e.g. application id plus a random UUID).
         */
        public Builder runToken(String runToken) {
            this.runToken = Objects.requireNonNull(runToken);
            return this;
        }

        /** Attempt number (Spark: stage attempt); connections from other attempts are rejected. */
        public Builder attempt(int attempt) {
            this.attempt = attempt;
            return this;
        }

        /** Idle timeout of every step (default 60 s); also the setup limit unless {@link #setupTimeout} is set. */
        public Builder timeout(Duration timeout) {
            this.timeout = Objects.requireNonNull(timeout);
            return this;
        }

        /** Time limit of the connection setup after the rendezvous (default: the {@link #timeout}). */
        public Builder setupTimeout(Duration setupTimeout) {
            this.setupTimeout = setupTimeout;
            return this;
        }

        /** Ports this rank may listen on (default {@link PortRange#ANY}): open them in the firewall. */
        public Builder ports(PortRange ports) {
            this.ports = Objects.requireNonNull(ports);
            return this;
        }

        Duration effectiveSetupTimeout() {
            return setupTimeout == null ? timeout : setupTimeout;
        }

        /** How often blocked loops poll the cancel check and interrupt flag (default 100 ms). */
        public Builder pollInterval(Duration pollInterval) {
            this.pollInterval = Objects.requireNonNull(pollInterval);
            return this;
        }

        /** Polled while waiting; when it returns true the call fails (e.g. {@code ctx::isInterrupted}). */
        public Builder cancelled(BooleanSupplier cancelled) {
            this.cancelled = Objects.requireNonNull(cancelled);
            return this;
        }

        /**
         * Sums {@link #allReduceSum} in the ranks' pairwise midpoint tree ({@code TreeSum} over the N
         * ranks' values) instead of the ring's left fold (default false: the ring order); over the
         * {@link #mesh} by default. See the class comment; all ranks must agree (a rank of the other order
         * fails with a protocol mismatch).
         */
        public Builder treeOrder(boolean treeOrder) {
            this.treeOrder = treeOrder;
            return this;
        }

        /**
         * With {@link #treeOrder} and N &gt; 2: the reduce-scatter exchanges every segment directly with its
         * owner (default true; a mesh: N - 1 peers per rank, over N - 2 extra connection pairs, rings of
         * stride 2..N-1, set up after the ring with the ring's authentication and time-outs, their addresses
         * exchanged over the ring), so each rank sends as many bytes as in the ring order. False: the tree
         * nodes travel round the ring ({@link RingTree}: no extra connections, more bytes). Same bits.
         */
        public Builder mesh(boolean mesh) {
            this.mesh = mesh;
            return this;
        }

        /** Size of each of the two direct I/O buffers, a multiple of 8 (default 1 MiB). */
        public Builder chunkBytes(int chunkBytes) {
            this.chunkBytes = chunkBytes;
            return this;
        }

        /**
         * Opens the listening socket, runs the rendezvous and connects the ring.
         *
         * @throws CollectiveException if the setup fails or times out
         */
        public TcpRingCollective connect() {
            if (worldSize < 1 || rank < 0 || rank >= worldSize) {
                throw new IllegalArgumentException("bad rank " + rank + " / worldSize " + worldSize);
            }
            if (chunkBytes < 4096 || chunkBytes % 8 != 0) {
                throw new IllegalArgumentException("chunkBytes must be a multiple of 8 and >= 4096: " + chunkBytes);
            }
            if (timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("timeout must be positive: " + timeout);
            }
            if (setupTimeout != null && (setupTimeout.isNegative() || setupTimeout.isZero())) {
                throw new IllegalArgumentException("setupTimeout must be positive: " + setupTimeout);
            }
            if (runToken.getBytes(StandardCharsets.UTF_8).length > 1024) {
                throw new IllegalArgumentException("runToken longer than 1024 bytes");
            }
            try {
                if (worldSize == 1) {
                    return new TcpRingCollective(this, null, null, 0);
                }
                Objects.requireNonNull(rendezvous, "rendezvous");
                TcpRingCollective ring = new RingSetup(this).run();
                if (treeOrder && mesh && worldSize > 2) {
                    connectMesh(this, ring);
                }
                return ring;
            } catch (IOException e) {
                throw new CollectiveException("[rank " + rank + "/" + worldSize + "] setup: " + e, "setup", -1, e);
            }
        }
    }

    /** Connects the mesh's rings of stride 2..N-1 of {@code ring} (closing it on failure). */
    private static void connectMesh(Builder b, TcpRingCollective ring) throws IOException {
        TcpRingCollective[] strided = new TcpRingCollective[b.worldSize];
        ring.strided = strided; // closed with the ring
        boolean ok = false;
        try {
            for (int d = 2; d < b.worldSize; d++) {
                Builder s = new Builder();
                s.rank = b.rank;
                s.worldSize = b.worldSize;
                s.host = b.host;
                s.runToken = b.runToken;
                s.attempt = b.attempt;
                s.timeout = b.timeout;
                s.setupTimeout = b.setupTimeout;
                s.ports = b.ports;
                s.pollInterval = b.pollInterval;
                s.cancelled = b.cancelled;
                s.chunkBytes = b.chunkBytes;
                s.stride = d;
                s.rendezvous = me -> ring.allGather(me.getBytes(StandardCharsets.UTF_8)).stream()
                        .map(x -> new String(x, StandardCharsets.UTF_8)).toList();
                strided[d] = new RingSetup(s).run();
            }
            ok = true;
        } finally {
            if (!ok) {
                ring.close();
            }
        }
    }

    static void closeQuietly(AutoCloseable c) {
        if (c != null) {
            try {
                c.close();
            } catch (Exception ignored) {
                // nothing to do
            }
        }
    }
}
