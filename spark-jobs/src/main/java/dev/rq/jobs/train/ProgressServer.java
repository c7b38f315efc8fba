package dev.rq.jobs.train;

import dev.rq.collective.PortRange;
import dev.rq.jobs.distributed.RingSettings;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * A driver-side endpoint that receives progress lines (one JSON object per line) from rank 0 of
 * the training stage while it runs, so progress appears on the driver without per-step Spark
 * jobs. Losing the connection only loses live progress, never training state.
 */
final class ProgressServer implements AutoCloseable {

    private final ServerSocket server;
    private final Thread acceptor;
    private final List<Thread> readers = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

    /**
     * @param bindHost address to listen on
     * @param ports ports it may use ({@link RingSettings#PROGRESS_PORTS})
     * @param onLine called with every line received
     */
    ProgressServer(String bindHost, PortRange ports, Consumer<String> onLine) throws IOException {
        server = ports.bindSocket(InetAddress.getByName(bindHost), 50);
        acceptor = new Thread(() -> {
            while (!closed) {
                try {
                    Socket s = server.accept();
                    Thread reader = new Thread(() -> read(s, onLine), "rq-progress-reader");
                    reader.setDaemon(true);
                    readers.add(reader);
                    reader.start();
                } catch (IOException e) {
                    if (!closed) {
                        TrainingJob.LOG.warn("progress endpoint stopped: {}", e.toString());
                    }
                    return;
                }
            }
        }, "rq-progress-acceptor");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    private void read(Socket s, Consumer<String> onLine) {
        try (s; BufferedReader r = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                onLine.accept(line);
            }
        } catch (SocketException e) {
            // rank 0 went away (task failed or finished); the driver handles the stage outcome
        } catch (IOException | RuntimeException e) {
            TrainingJob.LOG.warn("progress stream error: {}", e.toString());
        }
    }

    /**
     * Waits (at most {@code timeout}) until every connection accepted so far has been read to its
     * end. Once the stage's tasks have returned, rank 0 has closed its connection, so this makes
     * sure its last lines (those of the final steps) reached {@code onLine} before the caller
     * closes what they feed.
     */
    void drain(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (Thread t : readers) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                break;
            }
            t.join(Math.max(1, left / 1_000_000));
        }
    }

    /** @return host:port ranks connect to */
    String address(String advertisedHost) {
        return advertisedHost + ":" + server.getLocalPort();
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
    }
}
