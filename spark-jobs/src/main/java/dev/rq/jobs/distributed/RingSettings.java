package dev.rq.jobs.distributed;

import dev.rq.collective.PortRange;
import dev.rq.model.config.ConfigException;
import java.io.Serializable;
import java.time.Duration;
import org.apache.spark.SparkConf;

/**
 * The network settings of a training run's ring and progress sockets, read once on the driver from
 * Spark configuration (so they can be set per cluster with {@code --conf} / {@code --spark-conf} /
 * {@code spark-defaults.conf}) and shipped to the ranks. Bad values fail before any cluster work,
 * naming the key.
 *
 * <table>
 *   <caption>keys</caption>
 *   <tr><th>key</th><th>default</th><th>what</th></tr>
 *   <tr><td>{@value #RING_PORTS}</td><td>any</td><td>ports the ranks listen on (executors; one per rank on a host), e.g. {@code 40000-40099}</td></tr>
 *   <tr><td>{@value #RING_SETUP_TIMEOUT}</td><td>the collective timeout</td><td>limit of the ring setup after the rendezvous</td></tr>
 *   <tr><td>{@value #PROGRESS_PORTS}</td><td>any</td><td>port of the driver's progress endpoint, e.g. {@code 40100-40109}</td></tr>
 *   <tr><td>{@value #PROGRESS_CONNECT_TIMEOUT}</td><td>10s</td><td>rank 0's connect limit to the progress endpoint</td></tr>
 * </table>
 *
 * The idle timeout of every collective step is the job's {@code --collective-timeout}.
 *
 * @param ringPorts listening ports of the ranks
 * @param timeout idle timeout of every collective step
 * @param setupTimeout limit of the ring setup
 * @param progressPorts listening port of the driver's progress endpoint
 * @param progressConnectTimeout rank 0's connect limit to it
 */
public record RingSettings(PortRange ringPorts, Duration timeout, Duration setupTimeout, PortRange progressPorts,
        Duration progressConnectTimeout) implements Serializable {

    /** Spark conf key of the ranks' listening port range. */
    public static final String RING_PORTS = "spark.rq.ring.ports";
    /** Spark conf key of the ring setup limit (Spark time string, e.g. {@code 300s}). */
    public static final String RING_SETUP_TIMEOUT = "spark.rq.ring.setupTimeout";
    /** Spark conf key of the driver's progress endpoint port range. */
    public static final String PROGRESS_PORTS = "spark.rq.progress.ports";
    /** Spark conf key of rank 0's connect limit to the progress endpoint. */
    public static final String PROGRESS_CONNECT_TIMEOUT = "spark.rq.progress.connectTimeout";

    /** Defaults: any ports, setup limit = {@code timeout}, 10 s progress connect. */
    public static RingSettings defaults(Duration timeout) {
        return new RingSettings(PortRange.ANY, timeout, timeout, PortRange.ANY, Duration.ofSeconds(10));
    }

    /**
     * @param conf the session's Spark configuration
     * @param timeout the collective idle timeout ({@code --collective-timeout})
     * @throws ConfigException naming the key of a bad value
     */
    public static RingSettings from(SparkConf conf, Duration timeout) {
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new ConfigException("--collective-timeout", "must be positive, got " + timeout);
        }
        return new RingSettings(ports(conf, RING_PORTS), timeout, duration(conf, RING_SETUP_TIMEOUT, timeout),
                ports(conf, PROGRESS_PORTS), duration(conf, PROGRESS_CONNECT_TIMEOUT, Duration.ofSeconds(10)));
    }

    private static PortRange ports(SparkConf conf, String key) {
        try {
            return PortRange.parse(conf.get(key, ""));
        } catch (IllegalArgumentException e) {
            throw new ConfigException(key, e.getMessage());
        }
    }

    private static Duration duration(SparkConf conf, String key, Duration dflt) {
        if (!conf.contains(key)) {
            return dflt;
        }
        long ms;
        try {
            ms = conf.getTimeAsMs(key, dflt.toMillis() + "ms");
        } catch (RuntimeException e) {
            throw new ConfigException(key, "not a time (e.g. 300s, 5m): '" + conf.get(key) + "'");
        }
        if (ms <= 0) {
            throw new ConfigException(key, "must be positive, got '" + conf.get(key) + "'");
        }
        return Duration.ofMillis(ms);
    }
}
