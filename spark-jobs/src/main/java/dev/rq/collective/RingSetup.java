package dev.rq.collective;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import org.slf4j.LoggerFactory;
import org.slf4j.Logger;

/**
 * The connection phase of one rank of a {@link TcpRingCollective}: listen (on a port of the
 * configured {@link PortRange}), rendezvous, connect to next, and run two authenticated handshakes
 * at once — as connector towards next and as acceptor for prev — in one event loop, so that no
 * rank waits on another that is itself waiting: setup cannot deadlock. Closes everything it opened
 * if it fails.
 *
 * <p>Handshake frames ({@code int magic, int bodyLength ≤ 4096, body}; big-endian):
 * <pre>
 *   CHALLENGE "RQC2"  int version (2), byte[32] nonceA                           acceptor → connector, on accept
 *   HELLO     "RQH2"  int version, int senderRank, int worldSize, int attempt,
 *                     int targetRank, byte[32] nonceC, byte[32] mac              connector → acceptor
 *   ANSWER    "RQA2"  byte status (0 accept, 1 reject), short reasonLength,
 *                     byte[reasonLength] reason (UTF-8), byte[32] mac (zero on reject)
 * </pre>
 * MACs are those of {@link RingAuth}: the HELLO proves the connector holds the run's secret, the
 * ACCEPT proves the acceptor does. A HELLO is accepted only if version, attempt and world size
 * equal ours, the sender is our prev, the target is us and the MAC verifies; any other connection
 * (a zombie task of an earlier stage attempt, another run, a port scanner) gets a REJECT with the
 * reason and is closed, and the acceptor keeps waiting for its real prev.
 */
final class RingSetup {

    private static final Logger LOG = LoggerFactory.getLogger(RingSetup.class);

    static final int CHALLENGE_MAGIC = 0x52514332;
    static final int HELLO_MAGIC = 0x52514832;
    static final int ANSWER_MAGIC = 0x52514132;
    static final int PROTOCOL_VERSION = 2;
    static final int MAX_BODY = 4096;
    /** version, sender, worldSize, attempt, target. */
    static final int FIELDS_BYTES = 5 * Integer.BYTES;

    private final TcpRingCollective.Builder b;
    private final RingAuth auth;
    private final int next;
    private final int prev;
    private final List<SocketChannel> toClose = new ArrayList<>();
    private final List<String> rejected = new ArrayList<>();
    private long deadline;

    RingSetup(TcpRingCollective.Builder b) {
        this.b = b;
        this.auth = new RingAuth(b.runToken);
        this.next = (b.rank + b.stride) % b.worldSize;
        this.prev = (b.rank - b.stride + b.worldSize) % b.worldSize;
    }

    TcpRingCollective run() throws IOException {
        boolean ok = false;
        ServerSocketChannel server = bind();
        Selector sel = Selector.open();
        try {
            server.configureBlocking(false);
            int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
            String me = formatAddress(b.host, port);
            List<String> peers = b.rendezvous.allGather(me);
            if (peers.size() != b.worldSize || !me.equals(peers.get(b.rank))) {
                throw error("rendezvous returned " + peers + " for " + b.worldSize + " ranks; expected element "
                        + b.rank + " to be " + me, -1, null);
            }
            deadline = System.nanoTime() + b.effectiveSetupTimeout().toNanos();
            SocketChannel out = connect(parseAddress(peers.get(next)), sel);
            SocketChannel in = handshakes(server, out, sel);
            sel.close(); // deregisters; the collective registers with its own selector
            out.configureBlocking(false);
            in.configureBlocking(false);
            TcpRingCollective c = new TcpRingCollective(b, out, in, port);
            ok = true;
            return c;
        } finally {
            TcpRingCollective.closeQuietly(server);
            TcpRingCollective.closeQuietly(sel);
            if (!ok) {
                toClose.forEach(TcpRingCollective::closeQuietly);
            }
        }
    }

    /**
     * Opens the listening socket on a port of the range. The mesh's rings (stride &gt; 1) are set up one after
     * another, so the ranks sharing a host's range move their listeners through it while a rank scans it: a
     * scan may find every port busy although one is free at every moment (a 5-port range for 5 ranks: ~3 %
     * of the setups). Those retry until the setup time-out; the ring itself (stride 1) fails at once.
     */
    private ServerSocketChannel bind() throws IOException {
        long until = System.nanoTime() + b.effectiveSetupTimeout().toNanos();
        while (true) {
            try {
                return b.ports.bindChannel(InetAddress.getByName(b.host), 64);
            } catch (java.net.BindException e) {
                if (b.stride == 1 || System.nanoTime() > until || b.cancelled.getAsBoolean()) {
                    throw e;
                }
                try {
                    Thread.sleep(10);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw e;
                }
            }
        }
    }

    private SocketChannel connect(InetSocketAddress address, Selector sel) throws IOException {
        SocketChannel ch = SocketChannel.open();
        toClose.add(ch);
        ch.configureBlocking(false);
        ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
        try {
            if (!ch.connect(address)) {
                SelectionKey key = ch.register(sel, SelectionKey.OP_CONNECT);
                while (!ch.finishConnect()) {
                    checkDeadline("connect to " + address + " of", next);
                    sel.select(pollMillis());
                    sel.selectedKeys().remove(key);
                }
                key.cancel();
                sel.selectNow();
            }
        } catch (IOException e) {
            throw error("cannot connect to rank " + next + " (next) at " + address + ": " + e, next, e);
        }
        return ch;
    }

    /**
     * Drives both handshakes until next accepted us and a connection proved to be prev.
     *
     * @return the connection from prev
     */
    private SocketChannel handshakes(ServerSocketChannel server, SocketChannel out, Selector sel) throws IOException {
        SelectionKey serverKey = server.register(sel, SelectionKey.OP_ACCEPT);
        Connector connector = new Connector(out);
        out.register(sel, SelectionKey.OP_READ, connector);
        List<SocketChannel> candidates = new ArrayList<>();
        SocketChannel in = null;
        while (in == null || !connector.done) {
            checkDeadline(in == null ? "complete the handshake with" : "get the handshake answer of",
                    in == null ? prev : next);
            sel.select(pollMillis());
            Iterator<SelectionKey> it = sel.selectedKeys().iterator();
            while (it.hasNext()) {
                SelectionKey key = it.next();
                it.remove();
                if (!key.isValid()) {
                    continue;
                }
                if (key == serverKey) {
                    SocketChannel c;
                    while ((c = server.accept()) != null) {
                        toClose.add(c);
                        candidates.add(c);
                        c.configureBlocking(false);
                        c.setOption(StandardSocketOptions.TCP_NODELAY, true);
                        Acceptor a = new Acceptor(c);
                        c.register(sel, SelectionKey.OP_READ, a);
                        a.challenge();
                    }
                } else if (key.attachment() == connector) {
                    connector.readable(); // throws if next rejected us or failed to authenticate
                    if (connector.done) {
                        key.cancel();
                    }
                } else if (key.attachment() instanceof Acceptor a && key.isReadable()) {
                    Boolean accepted = a.readable();
                    if (accepted == null) {
                        continue; // HELLO incomplete
                    }
                    key.cancel();
                    if (accepted) {
                        in = a.channel;
                        serverKey.cancel();
                        for (SocketChannel other : candidates) {
                            if (other != in) {
                                TcpRingCollective.closeQuietly(other); // half-open or silent connections
                            }
                        }
                    } else {
                        TcpRingCollective.closeQuietly(a.channel);
                    }
                }
            }
        }
        sel.selectNow(); // flush cancelled keys before the channels are reused
        return in;
    }

    /** Our side of the handshake with next: read CHALLENGE, send HELLO, read ANSWER. */
    private final class Connector {
        private final SocketChannel ch;
        private FrameReader reader = new FrameReader(CHALLENGE_MAGIC, "CHALLENGE");
        private byte[] nonceA;
        private byte[] nonceC;
        private ByteBuffer fields;
        boolean done;

        Connector(SocketChannel ch) {
            this.ch = ch;
        }

        void readable() {
            String problem;
            try {
                problem = reader.read(ch);
            } catch (IOException e) {
                throw error("cannot read the handshake of rank " + next + " (next): " + e, next, e);
            }
            if (problem != null) {
                throw error("rank " + next + " (next) " + problem, next, null);
            }
            if (!reader.done()) {
                return;
            }
            ByteBuffer body = reader.body();
            if (nonceA == null) { // CHALLENGE
                if (body.remaining() != Integer.BYTES + RingAuth.BYTES || body.getInt() != PROTOCOL_VERSION) {
                    throw error("rank " + next + " (next) sent a CHALLENGE of another protocol version", next, null);
                }
                nonceA = new byte[RingAuth.BYTES];
                body.get(nonceA);
                nonceC = RingAuth.nonce();
                fields = fields(b.rank, b.worldSize, b.attempt, next);
                ByteBuffer hello = frame(HELLO_MAGIC, FIELDS_BYTES + 2 * RingAuth.BYTES)
                        .put(fields.duplicate()).put(nonceC).put(auth.mac("hello", fields, nonceA, nonceC)).flip();
                writeFully(ch, hello, next, "send HELLO to");
                reader = new FrameReader(ANSWER_MAGIC, "ANSWER");
                return;
            }
            // ANSWER
            if (body.remaining() < 3 + RingAuth.BYTES) {
                throw error("rank " + next + " (next) sent a malformed handshake answer", next, null);
            }
            byte status = body.get();
            int reasonLength = body.getShort() & 0xffff;
            if (body.remaining() != reasonLength + RingAuth.BYTES) {
                throw error("rank " + next + " (next) sent a malformed handshake answer", next, null);
            }
            byte[] reason = new byte[reasonLength];
            body.get(reason);
            byte[] mac = new byte[RingAuth.BYTES];
            body.get(mac);
            if (status != 0) {
                throw error("rank " + next + " (next) rejected our handshake: "
                        + new String(reason, StandardCharsets.UTF_8), next, null);
            }
            if (!auth.verify(mac, "accept", fields, nonceA, nonceC)) {
                throw error("the listener at rank " + next + "'s address accepted us without proving it holds the"
                        + " run's secret (not a rank of this run)", next, null);
            }
            done = true;
        }
    }

    /** Our side of the handshake with a connection to our server: send CHALLENGE, read HELLO, answer. */
    private final class Acceptor {
        final SocketChannel channel;
        private final byte[] nonceA = RingAuth.nonce();
        private final FrameReader reader = new FrameReader(HELLO_MAGIC, "HELLO");

        Acceptor(SocketChannel channel) {
            this.channel = channel;
        }

        void challenge() {
            ByteBuffer f = frame(CHALLENGE_MAGIC, Integer.BYTES + RingAuth.BYTES).putInt(PROTOCOL_VERSION).put(nonceA)
                    .flip();
            try {
                channel.write(f); // 44 bytes into an empty socket buffer
            } catch (IOException e) {
                // the peer went away; its read will fail and the connection is dropped
            }
        }

        /** @return true: a valid HELLO from prev (ACCEPT sent); false: rejected; null: need more bytes */
        Boolean readable() {
            String problem;
            try {
                problem = reader.read(channel);
            } catch (IOException e) {
                problem = "read failed: " + e;
            }
            if (problem == null && !reader.done()) {
                return null;
            }
            byte[] nonceC = new byte[RingAuth.BYTES];
            ByteBuffer fields = null;
            if (problem == null) {
                ByteBuffer body = reader.body();
                fields = body.slice(0, FIELDS_BYTES);
                body.position(FIELDS_BYTES);
                body.get(nonceC);
                byte[] mac = new byte[RingAuth.BYTES];
                body.get(mac);
                problem = validate(fields.duplicate(), mac, nonceC);
            }
            if (problem == null) {
                writeFully(channel, answer(true, "ok", auth.mac("accept", fields, nonceA, nonceC)), prev,
                        "send ACCEPT to");
                return true;
            }
            String from = remote(channel);
            LOG.warn("[rank {}/{}] rejected ring connection from {}: {}", b.rank, b.worldSize, from, problem);
            rejected.add(from + ": " + problem);
            try {
                channel.write(answer(false, problem, new byte[RingAuth.BYTES])); // best effort
            } catch (IOException ignored) {
                // the stray peer is gone
            }
            return false;
        }

        /** @return why this HELLO is not from our prev in our run and attempt, or null */
        private String validate(ByteBuffer f, byte[] mac, byte[] nonceC) {
            int version = f.getInt();
            int sender = f.getInt();
            int worldSize = f.getInt();
            int attempt = f.getInt();
            int target = f.getInt();
            if (version != PROTOCOL_VERSION) {
                return "protocol version " + version + ", expected " + PROTOCOL_VERSION;
            }
            if (attempt != b.attempt) {
                return "attempt " + attempt + " but this ring is attempt " + b.attempt + " (zombie of another attempt?)";
            }
            if (worldSize != b.worldSize) {
                return "world size " + worldSize + " but this ring has " + b.worldSize;
            }
            if (sender != prev || target != b.rank) {
                return "HELLO from rank " + sender + " to rank " + target + ", expected from rank " + prev
                        + " to rank " + b.rank;
            }
            if (!auth.verify(mac, "hello", fields(sender, worldSize, attempt, target), nonceA, nonceC)) {
                return "authentication failed: the HMAC does not match this run's secret (another run, or not an rq"
                        + " rank)";
            }
            return null;
        }
    }

    /** Incrementally reads one frame (exactly its bytes, never more). */
    private static final class FrameReader {
        private final int magic;
        private final String name;
        private final ByteBuffer head = ByteBuffer.allocate(8);
        private ByteBuffer body;

        FrameReader(int magic, String name) {
            this.magic = magic;
            this.name = name;
        }

        /** @return a problem description, or null if fine so far */
        String read(SocketChannel c) throws IOException {
            if (head.hasRemaining()) {
                if (c.read(head) < 0) {
                    return "closed the connection before sending a " + name;
                }
                if (head.hasRemaining()) {
                    return null;
                }
                head.flip();
                int got = head.getInt();
                int length = head.getInt();
                if (got != magic) {
                    return String.format("sent no rq ring %s (magic 0x%08x): not an rq ring peer of this version",
                            name, got);
                }
                if (length < 0 || length > MAX_BODY) {
                    return "bad " + name + " length " + length;
                }
                body = ByteBuffer.allocate(length);
            }
            if (body.hasRemaining() && c.read(body) < 0) {
                return "closed the connection in the middle of a " + name;
            }
            return null;
        }

        boolean done() {
            return body != null && !body.hasRemaining();
        }

        ByteBuffer body() {
            return body.flip();
        }
    }

    private void writeFully(SocketChannel ch, ByteBuffer buf, int peer, String what) {
        try {
            while (buf.hasRemaining()) {
                if (ch.write(buf) == 0) {
                    checkDeadline(what, peer);
                    Thread.onSpinWait(); // a handshake frame fits any socket buffer: practically never
                }
            }
        } catch (IOException e) {
            throw error("cannot " + what + " rank " + peer + ": " + e, peer, e);
        }
    }

    private void checkDeadline(String what, int peer) {
        if (Thread.currentThread().isInterrupted() || b.cancelled.getAsBoolean()) {
            throw error("cancelled while trying to " + what + " rank " + peer, peer, null);
        }
        if (System.nanoTime() - deadline >= 0) {
            throw new CollectiveTimeoutException("[rank " + b.rank + "/" + b.worldSize + "] setup: timed out after "
                    + b.effectiveSetupTimeout().toMillis() + " ms trying to " + what + " rank " + peer
                    + (rejected.isEmpty() ? "" : "; rejected connections: " + rejected), "setup", peer);
        }
    }

    private long pollMillis() {
        long remaining = Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
        return Math.max(1, Math.min(b.pollInterval.toMillis(), remaining));
    }

    private CollectiveException error(String message, int peer, Throwable cause) {
        return new CollectiveException("[rank " + b.rank + "/" + b.worldSize + "] setup: " + message, "setup",
                peer, cause);
    }

    private static String remote(SocketChannel c) {
        try {
            return String.valueOf(c.getRemoteAddress());
        } catch (IOException e) {
            return "?";
        }
    }

    private static ByteBuffer frame(int magic, int bodyLength) {
        return ByteBuffer.allocate(8 + bodyLength).putInt(magic).putInt(bodyLength);
    }

    private static ByteBuffer fields(int sender, int worldSize, int attempt, int target) {
        return ByteBuffer.allocate(FIELDS_BYTES).putInt(PROTOCOL_VERSION).putInt(sender).putInt(worldSize)
                .putInt(attempt).putInt(target).flip();
    }

    private static ByteBuffer answer(boolean accept, String reason, byte[] mac) {
        byte[] text = reason.getBytes(StandardCharsets.UTF_8);
        text = Arrays.copyOf(text, Math.min(text.length, MAX_BODY - 3 - RingAuth.BYTES));
        return frame(ANSWER_MAGIC, 3 + text.length + RingAuth.BYTES).put((byte) (accept ? 0 : 1))
                .putShort((short) text.length).put(text).put(mac).flip();
    }

    /**
     * A HELLO as a rank holding {@code runToken} would send it in answer to {@code nonceA} (tests:
     * zombies and strangers).
     */
    static ByteBuffer hello(String runToken, int attempt, int senderRank, int worldSize, int targetRank,
            byte[] nonceA) {
        ByteBuffer fields = fields(senderRank, worldSize, attempt, targetRank);
        byte[] nonceC = RingAuth.nonce();
        return frame(HELLO_MAGIC, FIELDS_BYTES + 2 * RingAuth.BYTES).put(fields.duplicate()).put(nonceC)
                .put(new RingAuth(runToken).mac("hello", fields, nonceA, nonceC)).flip();
    }

    static String formatAddress(String host, int port) {
        return (host.indexOf(':') >= 0 && !host.startsWith("[") ? "[" + host + "]" : host) + ":" + port;
    }

    static InetSocketAddress parseAddress(String address) {
        int colon = address.lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("not host:port: " + address);
        }
        String host = address.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        return new InetSocketAddress(host, Integer.parseInt(address.substring(colon + 1)));
    }
}
