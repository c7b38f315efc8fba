package dev.rq.collective;

import java.io.IOException;
import java.io.Serializable;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.channels.ServerSocketChannel;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The TCP ports a listening socket may use: {@link #ANY} (an ephemeral port chosen by the OS) or
 * an inclusive range {@code lo-hi} that a firewall can open. Binding tries every port of the range
 * once, starting at a random one (so that ranks on one host rarely collide), and fails with a
 * message naming the range when all are taken.
 *
 * @param lo first port (0 with {@code hi} 0: any ephemeral port)
 * @param hi last port, inclusive
 */
public record PortRange(int lo, int hi) implements Serializable {

    /** Any free ephemeral port. */
    public static final PortRange ANY = new PortRange(0, 0);

    public PortRange {
        if (!(lo == 0 && hi == 0) && (lo < 1 || hi > 65535 || lo > hi)) {
            throw new IllegalArgumentException("port range must be lo-hi with 1 <= lo <= hi <= 65535, got " + lo
                    + "-" + hi);
        }
    }

    /**
     * Parses {@code "40000-40099"}, a single port {@code "40000"}, or {@code ""} / {@code "0"} /
     * {@code "any"} for {@link #ANY}.
     *
     * @throws IllegalArgumentException on anything else
     */
    public static PortRange parse(String spec) {
        String s = spec == null ? "" : spec.trim();
        if (s.isEmpty() || s.equals("0") || s.equalsIgnoreCase("any")) {
            return ANY;
        }
        try {
            int dash = s.indexOf('-');
            if (dash < 0) {
                int p = Integer.parseInt(s);
                return new PortRange(p, p);
            }
            return new PortRange(Integer.parseInt(s.substring(0, dash).trim()),
                    Integer.parseInt(s.substring(dash + 1).trim()));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a port range (lo-hi, a port, or 'any'): '" + spec + "'");
        }
    }

    /** @return whether this is {@link #ANY} */
    public boolean isAny() {
        return lo == 0;
    }

    /** @return the number of ports (0 for {@link #ANY}) */
    public int size() {
        return isAny() ? 0 : hi - lo + 1;
    }

    /** Opens a channel bound to a port of this range on {@code host}. */
    public ServerSocketChannel bindChannel(InetAddress host, int backlog) throws IOException {
        return bind(host, port -> {
            ServerSocketChannel ch = ServerSocketChannel.open();
            try {
                ch.bind(new InetSocketAddress(host, port), backlog);
                return ch;
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
        });
    }

    /** Opens a server socket bound to a port of this range on {@code host}. */
    public ServerSocket bindSocket(InetAddress host, int backlog) throws IOException {
        return bind(host, port -> {
            ServerSocket s = new ServerSocket();
            try {
                s.bind(new InetSocketAddress(host, port), backlog);
                return s;
            } catch (IOException | RuntimeException e) {
                s.close();
                throw e;
            }
        });
    }

    private interface Binder<T> {
        T bind(int port) throws IOException;
    }

    private <T> T bind(InetAddress host, Binder<T> binder) throws IOException {
        if (isAny()) {
            return binder.bind(0);
        }
        int n = size();
        int first = ThreadLocalRandom.current().nextInt(n);
        for (int i = 0; i < n; i++) {
            try {
                return binder.bind(lo + (first + i) % n);
            } catch (BindException e) {
                // taken: try the next one
            }
        }
        throw new BindException("no free port in " + this + " on " + host.getHostAddress()
                + " (every rank or driver on a host needs one: widen the range)");
    }

    @Override
    public String toString() {
        return isAny() ? "any" : lo == hi ? Integer.toString(lo) : lo + "-" + hi;
    }
}
