package dev.rq.collective;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;

/** Hung, dead, cancelled, mismatched and foreign peers fail cleanly within bounded time. */
public class TcpRingCollectiveFailureTest {

    @Test
    void hungPeerMakesTheOthersFailWithinTheTimeout() {
        int n = 3;
        Duration timeout = Duration.ofSeconds(2);
        CountDownLatch othersDone = new CountDownLatch(n - 1);
        List<RingHarness.Outcome<Object>> outcomes = RingHarness.run(n, RingHarness.defaults(n, timeout), c -> {
            if (c.rank() == 2) { // connected, then stops participating (but keeps its sockets open)
                othersDone.await(30, TimeUnit.SECONDS);
                return null;
            }
            try {
                c.allReduceSum(new float[1000]);
            } finally {
                othersDone.countDown();
            }
            return null;
        });
        // rank 0 receives from the hung rank 2: a timeout naming rank 2
        RingHarness.Outcome<Object> r0 = outcomes.get(0);
        assertThat(r0.error()).isInstanceOf(CollectiveTimeoutException.class)
                .hasMessageContaining("rank 2").hasMessageContaining("allReduceSum");
        assertThat(((CollectiveException) r0.error()).peerRank()).isEqualTo(2);
        assertThat(r0.bodyMillis()).isBetween(1900L, 4000L);
        // rank 1 sent its part to rank 2 and waits for rank 0, which closes when it times out
        RingHarness.Outcome<Object> r1 = outcomes.get(1);
        assertThat(r1.error()).isInstanceOf(CollectiveException.class);
        assertThat(r1.bodyMillis()).isLessThan(4500L);
    }

    @Test
    void hungReceiverOfALargeMessageIsDetectedBySender() {
        int n = 2;
        Duration timeout = Duration.ofSeconds(2);
        CountDownLatch done = new CountDownLatch(1);
        List<RingHarness.Outcome<Object>> outcomes = RingHarness.run(n, RingHarness.defaults(n, timeout), c -> {
            if (c.rank() == 1) {
                done.await(30, TimeUnit.SECONDS);
                return null;
            }
            try {
                c.broadcast(new float[20_000_000], 0); // 80 MB: far more than the socket buffers
            } finally {
                done.countDown();
            }
            return null;
        });
        assertThat(outcomes.get(0).error()).isInstanceOf(CollectiveTimeoutException.class)
                .hasMessageContaining("rank 1 (next) is not reading");
        assertThat(outcomes.get(0).bodyMillis()).isBetween(1900L, 4500L);
    }

    @Test
    void deadPeerFailsFastAndLeavesTheCollectiveBroken() {
        int n = 3;
        Duration timeout = Duration.ofSeconds(20); // failures must come much faster than this
        AtomicBoolean secondCallFailed = new AtomicBoolean();
        List<RingHarness.Outcome<Object>> outcomes = RingHarness.run(n, RingHarness.defaults(n, timeout), c -> {
            if (c.rank() == 2) {
                c.close(); // dies right after the setup
                return null;
            }
            Thread.sleep(200); // let rank 2 go first
            try {
                c.allReduceSum(new float[100_000]);
            } catch (CollectiveException e) {
                try {
                    c.allReduceSum(new float[1]);
                } catch (CollectiveException again) {
                    secondCallFailed.set(again.getMessage().contains("broken"));
                }
                throw e;
            }
            return null;
        });
        for (int r = 0; r < 2; r++) {
            RingHarness.Outcome<Object> o = outcomes.get(r);
            assertThat(o.error()).as("rank %d", r).isInstanceOf(CollectiveException.class)
                    .isNotInstanceOf(CollectiveTimeoutException.class);
            assertThat(o.bodyMillis()).as("rank %d", r).isLessThan(3000L);
        }
        assertThat(outcomes.get(0).error()).hasMessageContaining("rank 2 (prev) closed the connection");
        assertThat(secondCallFailed).isTrue();
    }

    @Test
    void cancellationStopsAWaitingCall() {
        int n = 2;
        AtomicBoolean cancel = new AtomicBoolean();
        CountDownLatch done = new CountDownLatch(1);
        IntFunction<TcpRingCollective.Builder> builders = RingHarness.defaults(n, Duration.ofSeconds(30));
        List<RingHarness.Outcome<Object>> outcomes =
                RingHarness.run(n, r -> builders.apply(r).cancelled(cancel::get), c -> {
                    if (c.rank() == 1) {
                        done.await(30, TimeUnit.SECONDS);
                        return null;
                    }
                    Thread canceller = new Thread(() -> {
                        sleep(300);
                        cancel.set(true);
                    });
                    canceller.start();
                    try {
                        c.allReduceSum(new float[10]);
                    } finally {
                        done.countDown();
                    }
                    return null;
                });
        assertThat(outcomes.get(0).error()).isInstanceOf(CollectiveException.class).hasMessageContaining("cancelled");
        assertThat(outcomes.get(0).bodyMillis()).isLessThan(2000L);
    }

    @Test
    void mismatchedLengthsFailWithAProtocolError() {
        int n = 2;
        List<RingHarness.Outcome<Object>> outcomes =
                RingHarness.run(n, RingHarness.defaults(n, Duration.ofSeconds(10)), c -> {
                    c.allReduceSum(new float[10 + c.rank()]);
                    return null;
                });
        for (int r = 0; r < n; r++) {
            assertThat(outcomes.get(r).error()).as("rank %d", r).isInstanceOf(CollectiveException.class)
                    .hasMessageContaining("protocol mismatch");
            assertThat(outcomes.get(r).bodyMillis()).isLessThan(3000L);
        }
    }

    @Test
    void wrongRunTokenIsRejected() {
        int n = 2;
        LocalRendezvous rv = new LocalRendezvous(n, Duration.ofSeconds(10));
        List<RingHarness.Outcome<Object>> outcomes = RingHarness.run(n, r -> TcpRingCollective.builder()
                .rank(r).worldSize(n).rendezvous(rv.forRank(r)).timeout(Duration.ofSeconds(5))
                .runToken(r == 0 ? "run-A" : "run-B"), c -> null);
        // Each rank rejects the other; a rank that fails first closes its sockets, so the other may
        // see a reset instead of the REJECT answer. Both fail fast, at least one with the reason.
        boolean reasonSeen = false;
        for (int r = 0; r < n; r++) {
            Throwable e = outcomes.get(r).error();
            assertThat(e).as("rank %d", r).isInstanceOf(CollectiveException.class).hasMessageContaining("setup");
            reasonSeen |= e.getMessage().contains("rejected our handshake: authentication failed");
            assertThat(outcomes.get(r).totalMillis()).isLessThan(3000L);
        }
        assertThat(reasonSeen).isTrue();
    }

    @Test
    void wrongAttemptIsRejected() {
        int n = 3;
        LocalRendezvous rv = new LocalRendezvous(n, Duration.ofSeconds(10));
        List<RingHarness.Outcome<Object>> outcomes = RingHarness.run(n, r -> TcpRingCollective.builder()
                .rank(r).worldSize(n).rendezvous(rv.forRank(r)).timeout(Duration.ofSeconds(3)).runToken("run")
                .attempt(r == 1 ? 0 : 1), c -> null);
        // rank 1 (attempt 0, a zombie) connects to rank 2, which rejects it
        assertThat(outcomes.get(1).error()).isInstanceOf(CollectiveException.class)
                .hasMessageContaining("rejected our handshake").hasMessageContaining("attempt 0");
        for (int r = 0; r < n; r++) {
            assertThat(outcomes.get(r).error()).as("rank %d", r).isInstanceOf(CollectiveException.class);
            assertThat(outcomes.get(r).totalMillis()).as("rank %d", r).isLessThan(5000L);
        }
    }

    /**
     * Zombies, strangers and garbage connect to rank 0 before the real rank 1; rank 0 rejects each
     * with the reason and goes on.
     */
    @Test
    void strayConnectionsAreRejectedAndTheRealRingStillForms() {
        int n = 2;
        LocalRendezvous rv = new LocalRendezvous(n, Duration.ofSeconds(10));
        String[] answers = new String[4];
        Rendezvous rank1 = myAddress -> {
            List<String> peers = rv.forRank(1).allGather(myAddress);
            InetSocketAddress rank0 = RingSetup.parseAddress(peers.get(0));
            answers[0] = stranger(rank0, nonce -> RingSetup.hello("run", 0, 1, 2, 0, nonce)); // earlier attempt
            answers[1] = stranger(rank0, nonce -> RingSetup.hello("other-run", 1, 1, 2, 0, nonce)); // other run
            answers[2] = stranger(rank0, nonce -> ByteBuffer.wrap("GET / HTTP/1.1\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII)));
            // a replay: a valid HELLO of this run, but computed for another challenge
            answers[3] = stranger(rank0, nonce -> RingSetup.hello("run", 1, 1, 2, 0, new byte[32]));
            return peers;
        };
        List<float[]> results = RingHarness.runOk(n, r -> TcpRingCollective.builder()
                .rank(r).worldSize(n).rendezvous(r == 0 ? rv.forRank(0) : rank1)
                .timeout(Duration.ofSeconds(10)).runToken("run").attempt(1), c -> {
                    float[] data = {c.rank() + 1f};
                    c.allReduceSum(data);
                    return data;
                });
        assertThat(answers[0]).startsWith("REJECT").contains("attempt 0");
        assertThat(answers[1]).startsWith("REJECT").contains("authentication failed");
        assertThat(answers[2]).startsWith("REJECT").contains("sent no rq ring HELLO");
        assertThat(answers[3]).startsWith("REJECT").contains("authentication failed");
        assertThat(results.get(0)).containsExactly(3f);
        assertThat(results.get(1)).containsExactly(3f);
    }

    /** Reads the CHALLENGE, sends {@code hello(nonceA)} and returns the answer as "ACCEPT: reason" / "REJECT: reason". */
    private static String stranger(InetSocketAddress target, java.util.function.Function<byte[], ByteBuffer> hello) {
        try (Socket s = new Socket()) {
            s.connect(target, 5000);
            s.setSoTimeout(5000);
            DataInputStream in = new DataInputStream(s.getInputStream());
            assertThat(in.readInt()).isEqualTo(RingSetup.CHALLENGE_MAGIC);
            assertThat(in.readInt()).isEqualTo(4 + 32);
            assertThat(in.readInt()).isEqualTo(RingSetup.PROTOCOL_VERSION);
            byte[] nonce = new byte[32];
            in.readFully(nonce);
            ByteBuffer h = hello.apply(nonce);
            OutputStream out = s.getOutputStream();
            out.write(h.array(), h.position(), h.remaining());
            out.flush();
            assertThat(in.readInt()).isEqualTo(RingSetup.ANSWER_MAGIC);
            in.readInt(); // body length
            byte status = in.readByte();
            byte[] reason = new byte[in.readUnsignedShort()];
            in.readFully(reason);
            return (status == 0 ? "ACCEPT: " : "REJECT: ") + new String(reason, StandardCharsets.UTF_8);
        } catch (Exception e) {
            throw new AssertionError("stranger connection failed", e);
        }
    }

    /**
     * An impostor listens where next should be and accepts any HELLO without knowing the secret:
     * the rank refuses it (mutual authentication), and its HELLO never contains the run token.
     */
    @Test
    void anImpostorListenerIsRefusedAndNeverSeesTheToken() throws Exception {
        String token = "app-1/5b7d2c1e-secret-token";
        byte[][] seen = new byte[1][];
        try (java.net.ServerSocket impostor = new java.net.ServerSocket(0, 5,
                java.net.InetAddress.getByName("127.0.0.1"))) {
            Thread t = new Thread(() -> {
                try (Socket s = impostor.accept()) {
                    s.setSoTimeout(5000);
                    DataOutputStream out = new DataOutputStream(s.getOutputStream());
                    out.writeInt(RingSetup.CHALLENGE_MAGIC);
                    out.writeInt(36);
                    out.writeInt(RingSetup.PROTOCOL_VERSION);
                    out.write(new byte[32]);
                    out.flush();
                    DataInputStream in = new DataInputStream(s.getInputStream());
                    in.readInt();
                    byte[] body = new byte[in.readInt()];
                    in.readFully(body);
                    seen[0] = body;
                    out.writeInt(RingSetup.ANSWER_MAGIC);
                    out.writeInt(3 + 2 + 32);
                    out.writeByte(0);
                    out.writeShort(2);
                    out.write("ok".getBytes(StandardCharsets.US_ASCII));
                    out.write(new byte[32]); // cannot compute the real MAC
                    out.flush();
                    Thread.sleep(3000);
                } catch (Exception ignored) {
                    // the rank closes on us
                }
            });
            t.setDaemon(true);
            t.start();
            // rank 0 of 2: rank 1's "address" is the impostor
            Rendezvous rv = myAddress -> List.of(myAddress, "127.0.0.1:" + impostor.getLocalPort());
            assertThatThrownBy(() -> TcpRingCollective.builder().rank(0).worldSize(2).rendezvous(rv)
                            .runToken(token).timeout(Duration.ofSeconds(5)).connect())
                    .isInstanceOf(CollectiveException.class)
                    .hasMessageContaining("without proving it holds the run's secret");
            t.join(5000);
        }
        assertThat(seen[0]).isNotNull();
        assertThat(new String(seen[0], StandardCharsets.ISO_8859_1)).doesNotContain(token).doesNotContain("secret");
    }

    @Test
    void ranksListenInsideTheConfiguredPortRange() {
        int n = 3;
        int lo = freeRange(3);
        PortRange range = new PortRange(lo, lo + 2);
        LocalRendezvous rv = new LocalRendezvous(n, Duration.ofSeconds(10));
        List<Integer> ports = RingHarness.runOk(n, r -> TcpRingCollective.builder().rank(r).worldSize(n)
                .rendezvous(rv.forRank(r)).runToken("run").timeout(Duration.ofSeconds(10)).ports(range), c -> {
                    float[] data = {1f};
                    c.allReduceSum(data);
                    assertThat(data).containsExactly(3f);
                    return c.listenPort();
                });
        assertThat(ports).allSatisfy(p -> assertThat(p).isBetween(lo, lo + 2)).doesNotHaveDuplicates();
    }

    @Test
    void aFullPortRangeFailsNamingTheRange() throws Exception {
        int lo = freeRange(1);
        try (java.net.ServerSocket taken = new java.net.ServerSocket(lo, 5, java.net.InetAddress.getByName("127.0.0.1"))) {
            LocalRendezvous rv = new LocalRendezvous(1, Duration.ofSeconds(10));
            assertThatThrownBy(() -> TcpRingCollective.builder().rank(0).worldSize(2).rendezvous(rv.forRank(0))
                            .timeout(Duration.ofSeconds(2)).ports(new PortRange(lo, lo)).connect())
                    .isInstanceOf(CollectiveException.class)
                    .hasMessageContaining("no free port in " + lo);
        }
        assertThat(PortRange.parse("40000-40099")).isEqualTo(new PortRange(40000, 40099));
        assertThat(PortRange.parse(" 40000 ")).isEqualTo(new PortRange(40000, 40000));
        assertThat(PortRange.parse("")).isEqualTo(PortRange.ANY);
        assertThat(PortRange.parse("any").isAny()).isTrue();
        assertThatThrownBy(() -> PortRange.parse("40100-40000")).hasMessageContaining("lo <= hi");
        assertThatThrownBy(() -> PortRange.parse("high")).hasMessageContaining("not a port range");
    }

    /** @return the first of {@code n} consecutive ports that are free on 127.0.0.1 right now */
    public static int freeRange(int n) {
        for (int attempt = 0; attempt < 200; attempt++) {
            int lo = 20000 + java.util.concurrent.ThreadLocalRandom.current().nextInt(30000);
            List<java.net.ServerSocket> held = new java.util.ArrayList<>();
            try {
                for (int p = lo; p < lo + n; p++) {
                    held.add(new java.net.ServerSocket(p, 1, java.net.InetAddress.getByName("127.0.0.1")));
                }
                return lo;
            } catch (java.io.IOException e) {
                // taken: try elsewhere
            } finally {
                held.forEach(TcpRingCollective::closeQuietly);
            }
        }
        throw new IllegalStateException("no " + n + " consecutive free ports found");
    }

    @Test
    void missingPeerFailsTheSetupWithinTheTimeout() {
        int n = 2;
        LocalRendezvous rv = new LocalRendezvous(n, Duration.ofSeconds(10));
        // rank 1 takes part in the rendezvous with an address where nobody answers the handshake
        Thread fake = new Thread(() -> {
            try (java.net.ServerSocket silent = new java.net.ServerSocket(0, 50,
                    java.net.InetAddress.getByName("127.0.0.1"))) {
                rv.forRank(1).allGather("127.0.0.1:" + silent.getLocalPort());
                Thread.sleep(4000);
            } catch (Exception ignored) {
                // test helper
            }
        });
        fake.setDaemon(true);
        fake.start();
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> TcpRingCollective.builder().rank(0).worldSize(2).rendezvous(rv.forRank(0))
                        .timeout(Duration.ofSeconds(2)).connect())
                .isInstanceOf(CollectiveTimeoutException.class)
                .hasMessageContaining("setup")
                .hasMessageContaining("rank 1");
        assertThat((System.nanoTime() - t0) / 1_000_000).isBetween(1900L, 4000L);
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
