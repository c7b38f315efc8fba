package dev.rq.storage;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.hadoop.conf.Configuration;
import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStore;
import org.jclouds.blobstore.BlobStoreContext;

/**
 * A real S3 API endpoint inside the test JVM: s3proxy (the S3 REST protocol, V4 signatures) over
 * jclouds' in-memory blob store, on 127.0.0.1 and a free port, with one bucket. Hadoop's S3A client
 * talks to it exactly as to AWS S3 (path-style addressing, no TLS).
 */
public final class S3Server implements AutoCloseable {

    static final String ACCESS = "rq-access";
    static final String SECRET = "rq-secret-key";

    private final BlobStoreContext store;
    private final S3Proxy proxy;
    private final Map<String, AtomicLong> calls = new ConcurrentHashMap<>();
    final String bucket;

    public S3Server(String bucket) throws Exception {
        this.bucket = bucket;
        Properties p = new Properties();
        store = ContextBuilder.newBuilder("transient").credentials("identity", "credential").overrides(p)
                .build(BlobStoreContext.class);
        store.getBlobStore().createContainerInLocation(null, bucket);
        BlobStore real = store.getBlobStore();
        BlobStore counting = (BlobStore) Proxy.newProxyInstance(BlobStore.class.getClassLoader(),
                new Class<?>[] {BlobStore.class}, (self, m, args) -> {
                    calls.computeIfAbsent(m.getName(), k -> new AtomicLong()).incrementAndGet();
                    try {
                        return m.invoke(real, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        proxy = S3Proxy.builder()
                .blobStore(counting)
                .endpoint(URI.create("http://127.0.0.1:0"))
                .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, ACCESS, SECRET)
                .build();
        proxy.start();
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (!proxy.getState().equals("STARTED")) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("s3proxy did not start: " + proxy.getState());
            }
            Thread.sleep(20);
        }
    }

    /**
     * @return how often the server's blob store was asked to run {@code method} ({@code putBlob}: an
     *     object upload, {@code copyBlob}: a server-side copy, which is what S3A's rename issues,
     *     {@code removeBlob}...), counted on the server whatever client instance sent the requests
     */
    public long calls(String method) {
        AtomicLong n = calls.get(method);
        return n == null ? 0 : n.get();
    }

    /** @return {@code s3a://<bucket>/<path>} */
    public String uri(String path) {
        return "s3a://" + bucket + "/" + path;
    }

    /** @return the S3A settings (Hadoop keys) that reach this server */
    public Map<String, String> hadoopSettings() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("fs.s3a.endpoint", "http://127.0.0.1:" + proxy.getPort());
        m.put("fs.s3a.endpoint.region", "us-east-1");
        m.put("fs.s3a.path.style.access", "true");
        m.put("fs.s3a.connection.ssl.enabled", "false");
        m.put("fs.s3a.aws.credentials.provider", "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider");
        m.put("fs.s3a.access.key", ACCESS);
        m.put("fs.s3a.secret.key", SECRET);
        // s3proxy refuses the CRC32 checksum header that AWS SDK >= 2.30 puts on the bulk DeleteObjects
        // request (gaul/s3proxy#962); S3A then deletes object by object. AWS S3 needs no such setting.
        m.put("fs.s3a.multiobjectdelete.enable", "false");
        m.put("fs.s3a.attempts.maximum", "2");
        m.put("fs.s3a.retry.limit", "2");
        return m;
    }

    /** @return {@link #hadoopSettings} as {@code rq} arguments: {@code --spark-conf spark.hadoop.<key>=<value>} each */
    public List<String> sparkConfArgs() {
        List<String> a = new ArrayList<>();
        hadoopSettings().forEach((k, v) -> a.addAll(List.of("--spark-conf", "spark.hadoop." + k + "=" + v)));
        return a;
    }

    /** @return a Hadoop configuration that reaches this server */
    public Configuration conf() {
        Configuration c = new Configuration();
        hadoopSettings().forEach(c::set);
        return c;
    }

    @Override
    public void close() throws Exception {
        proxy.stop();
        store.close();
    }
}
