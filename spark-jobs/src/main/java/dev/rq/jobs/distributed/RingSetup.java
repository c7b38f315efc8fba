package dev.rq.jobs.distributed;

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
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;

/**
 * The connection phase of one rank of a {@link TcpRingCollective}: listen, rendezvous, connect to
 * next, handshake, accept from prev (the protocol is described on {@link TcpRingCollective}).
 * Closes everything it opened if it fails.
 */
final class RingSetup {

    private static final System.Logger LOG = System.getLogger(TcpRingCollective.class.getName());

    static final int HELLO_MAGIC = 0x52514831;
    static final int ANSWER_MAGIC = 0x52514141;
    static final int PROTOCOL_VERSION = 1;
    static final int MAX_HELLO_BODY = 4096;

    private final TcpRingCollective.Builder b;
    private final int next;
    private final int prev;
    private final List<SocketChannel> toClose = new ArrayList<>();
    private long deadline;
    private boolean answered;

    RingSetup(TcpRingCollective.Builder b) {
        this.b = b;
        this.next = (b.rank + 1) % b.worldSize;
        this.prev = (b.rank - 1 + b.worldSize) % b.worldSize;
    }

    TcpRingCollective run() throws IOException {
        boolean ok = false;
        ServerSocketChannel server = ServerSocketChannel.open();
        Selector sel = Selector.open();
        try {
            server.bind(new InetSocketAddress(InetAddress.getByName(b.host), 0), 64);
            server.configureBlocking(false);
            int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
            String me = formatAddress(b.host, port);
            List<String> peers = b.rendezvous.allGather(me);
            if (peers.size() != b.worldSize || !me.equals(peers.get(b.rank))) {
                throw error("rendezvous returned " + peers + " for " + b.worldSize + " ranks; expected element "
                        + b.rank + " to be " + me, -1, null);
            }
            deadline = System.nanoTime() + b.timeout.toNanos();

            SocketChannel out = connect(parseAddress(peers.get(next)), sel);
            writeFully(out, hello(b.runToken, b.attempt, b.rank, b.worldSize, next), sel, next, "send HELLO to");
            SocketChannel in = acceptFromPrev(server, out, sel);
            if (!answered) {
                readAnswer(out, sel);
            }
            TcpRingCollective c;
            sel.close(); // deregisters; the collective registers with its own selector
            out.configureBlocking(false);
            in.configureBlocking(false);
            c = new TcpRingCollective(b, out, in);
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

    private SocketChannel connect(InetSocketAddress address, Selector sel) throws IOException {
        SocketChannel ch = SocketChannel.open();
        toClose.add(ch);
        ch.configureBlocking(false);
        ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
        try {
            if (!ch.connect(address)) {
                SelectionKey key = ch.register(sel, SelectionKey.OP_CONNECT);
                while (!ch.finishConnect()) {
                    waitOn(sel, key, next, "connect to " + address + " of");
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
     * Accepts connections until one presents a valid HELLO from prev; rejects all others. Also
     * reads next's answer if it arrives meanwhile, so that a rejection fails at once.
     */
    private SocketChannel acceptFromPrev(ServerSocketChannel server, SocketChannel out, Selector sel)
            throws IOException {
        SelectionKey serverKey = server.register(sel, SelectionKey.OP_ACCEPT);
        SelectionKey outKey = out.register(sel, SelectionKey.OP_READ);
        List<String> rejected = new ArrayList<>();
        List<SocketChannel> candidates = new ArrayList<>();
        while (true) {
            checkDeadline("accept a valid HELLO from", prev, rejected);
            sel.select(Math.max(1, Math.min(b.pollInterval.toMillis(), remainingMillis())));
            boolean answerReady = false;
            Iterator<SelectionKey> it = sel.selectedKeys().iterator();
            while (it.hasNext()) {
                SelectionKey key = it.next();
                it.remove();
                if (key == outKey) {
                    answerReady = true; // read below, outside this iteration
                } else if (key == serverKey) {
                    SocketChannel c;
                    while ((c = server.accept()) != null) {
                        toClose.add(c);
                        candidates.add(c);
                        c.configureBlocking(false);
                        c.setOption(StandardSocketOptions.TCP_NODELAY, true);
                        c.register(sel, SelectionKey.OP_READ, new HelloReader());
                    }
                } else if (key.isValid() && key.isReadable()) {
                    SocketChannel c = (SocketChannel) key.channel();
                    HelloReader reader = (HelloReader) key.attachment();
                    String problem;
                    try {
                        problem = reader.read(c);
                    } catch (IOException e) {
                        problem = "read failed: " + e;
                    }
                    if (problem == null && !reader.done()) {
                        continue;
                    }
                    if (problem == null) {
                        problem = reader.validate(b, prev);
                    }
                    key.cancel();
                    sel.selectNow();
                    if (problem == null) {
                        writeFully(c, answer(true, "ok"), sel, prev, "send ACCEPT to");
                        for (SocketChannel other : candidates) {
                            if (other != c) {
                                TcpRingCollective.closeQuietly(other); // half-open or silent connections
                            }
                        }
                        serverKey.cancel();
                        sel.selectNow();
                        return c;
                    }
                    String from = String.valueOf(c.getRemoteAddress());
                    LOG.log(System.Logger.Level.WARNING, "[rank {0}/{1}] rejected connection from {2}: {3}",
                            b.rank, b.worldSize, from, problem);
                    rejected.add(from + ": " + problem);
                    try {
                        c.configureBlocking(true);
                        c.socket().setSoTimeout(1000);
                        c.write(answer(false, problem));
                    } catch (IOException ignored) {
                        // best effort
                    }
                    TcpRingCollective.closeQuietly(c);
                }
            }
            if (answerReady && !answered) {
                readAnswer(out, sel); // throws if next rejected us; cancels outKey
                answered = true;
            }
        }
    }

    private void readAnswer(SocketChannel out, Selector sel) throws IOException {
        ByteBuffer head = ByteBuffer.allocate(7);
        readFully(out, head, sel, next, "read the handshake answer of");
        head.flip();
        int magic = head.getInt();
        byte status = head.get();
        int reasonLength = head.getShort() & 0xffff;
        if (magic != ANSWER_MAGIC || reasonLength > MAX_HELLO_BODY) {
            throw error("rank " + next + " (next) sent a malformed handshake answer", next, null);
        }
        ByteBuffer reason = ByteBuffer.allocate(reasonLength);
        readFully(out, reason, sel, next, "read the handshake answer of");
        String text = new String(reason.array(), StandardCharsets.UTF_8);
        if (status != 0) {
            throw error("rank " + next + " (next) rejected our handshake: " + text, next, null);
        }
    }

    private void readFully(SocketChannel ch, ByteBuffer buf, Selector sel, int peer, String what)
            throws IOException {
        SelectionKey key = ch.register(sel, SelectionKey.OP_READ);
        try {
            while (buf.hasRemaining()) {
                int n;
                try {
                    n = ch.read(buf);
                } catch (IOException e) {
                    throw error("cannot " + what + " rank " + peer + ": " + e, peer, e);
                }
                if (n < 0) {
                    throw error("rank " + peer + " closed the connection while we tried to " + what + " it",
                            peer, null);
                }
                if (n == 0) {
                    waitOn(sel, key, peer, what);
                }
            }
        } finally {
            key.cancel();
            sel.selectNow();
        }
    }

    private void writeFully(SocketChannel ch, ByteBuffer buf, Selector sel, int peer, String what)
            throws IOException {
        SelectionKey key = ch.register(sel, SelectionKey.OP_WRITE);
        try {
            while (buf.hasRemaining()) {
                int n;
                try {
                    n = ch.write(buf);
                } catch (IOException e) {
                    throw error("cannot " + what + " rank " + peer + ": " + e, peer, e);
                }
                if (n == 0) {
                    waitOn(sel, key, peer, what);
                }
            }
        } finally {
            key.cancel();
            sel.selectNow();
        }
    }

    /** Waits for {@code key} to become ready, polling cancellation and the deadline. */
    private void waitOn(Selector sel, SelectionKey key, int peer, String what) throws IOException {
        checkDeadline(what, peer, List.of());
        sel.select(Math.max(1, Math.min(b.pollInterval.toMillis(), remainingMillis())));
        sel.selectedKeys().remove(key);
    }

    private void checkDeadline(String what, int peer, List<String> rejected) {
        if (Thread.currentThread().isInterrupted() || b.cancelled.getAsBoolean()) {
            throw error("cancelled while trying to " + what + " rank " + peer, peer, null);
        }
        if (System.nanoTime() - deadline >= 0) {
            throw new CollectiveTimeoutException("[rank " + b.rank + "/" + b.worldSize + "] setup: timed out after "
                    + b.timeout.toMillis() + " ms trying to " + what + " rank " + peer
                    + (rejected.isEmpty() ? "" : "; rejected connections: " + rejected), "setup", peer);
        }
    }

    private long remainingMillis() {
        return Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
    }

    private CollectiveException error(String message, int peer, Throwable cause) {
        return new CollectiveException("[rank " + b.rank + "/" + b.worldSize + "] setup: " + message, "setup",
                peer, cause);
    }

    /** Incrementally reads one HELLO frame (exactly its bytes, never more). */
    private static final class HelloReader {
        private final ByteBuffer head = ByteBuffer.allocate(8);
        private ByteBuffer body;

        /** @return a problem description, or null if fine so far */
        String read(SocketChannel c) throws IOException {
            if (head.hasRemaining()) {
                if (c.read(head) < 0) {
                    return "closed before sending a HELLO";
                }
                if (head.hasRemaining()) {
                    return null;
                }
                head.flip();
                int magic = head.getInt();
                int length = head.getInt();
                if (magic != HELLO_MAGIC) {
                    return String.format("not an rq ring HELLO (magic 0x%08x)", magic);
                }
                if (length < 22 || length > MAX_HELLO_BODY) {
                    return "bad HELLO length " + length;
                }
                body = ByteBuffer.allocate(length);
            }
            if (body.hasRemaining() && c.read(body) < 0) {
                return "closed in the middle of a HELLO";
            }
            return null;
        }

        boolean done() {
            return body != null && !body.hasRemaining();
        }

        /** @return why this HELLO is not from our prev in our run and attempt, or null */
        String validate(TcpRingCollective.Builder b, int prev) {
            body.flip();
            int version = body.getInt();
            int sender = body.getInt();
            int worldSize = body.getInt();
            int attempt = body.getInt();
            int target = body.getInt();
            int tokenLength = body.getShort() & 0xffff;
            if (version != PROTOCOL_VERSION) {
                return "protocol version " + version + ", expected " + PROTOCOL_VERSION;
            }
            if (tokenLength != body.remaining()) {
                return "malformed HELLO";
            }
            byte[] token = new byte[tokenLength];
            body.get(token);
            if (!MessageDigest.isEqual(token, b.runToken.getBytes(StandardCharsets.UTF_8))) {
                return "run token mismatch (a connection from another run)";
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
            return null;
        }
    }

    /** Encodes a HELLO frame (package-private for tests). */
    static ByteBuffer hello(String runToken, int attempt, int senderRank, int worldSize, int targetRank) {
        byte[] token = runToken.getBytes(StandardCharsets.UTF_8);
        int bodyLength = 5 * Integer.BYTES + Short.BYTES + token.length;
        ByteBuffer buf = ByteBuffer.allocate(8 + bodyLength);
        buf.putInt(HELLO_MAGIC).putInt(bodyLength)
                .putInt(PROTOCOL_VERSION).putInt(senderRank).putInt(worldSize).putInt(attempt).putInt(targetRank)
                .putShort((short) token.length).put(token);
        return buf.flip();
    }

    private static ByteBuffer answer(boolean accept, String reason) {
        byte[] text = reason.getBytes(StandardCharsets.UTF_8);
        text = Arrays.copyOf(text, Math.min(text.length, MAX_HELLO_BODY));
        ByteBuffer buf = ByteBuffer.allocate(7 + text.length);
        buf.putInt(ANSWER_MAGIC).put((byte) (accept ? 0 : 1)).putShort((short) text.length).put(text);
        return buf.flip();
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
