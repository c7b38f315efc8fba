package dev.rq.model.engine;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import java.util.Properties;

/**
 * Starts the DJL PyTorch engine in offline mode from the native libraries bundled on the classpath
 * ({@code ai.djl.pytorch:pytorch-native-cpu} and {@code pytorch-jni}). Nothing is ever downloaded:
 * a missing native library fails at once with a message saying which artifact to add.
 */
public final class Engines {

    /** libtorch version of the bundled native artifact. */
    public static final String LIBTORCH_VERSION = "2.7.1";

    private static volatile Engine engine;

    private Engines() {}

    /**
     * Returns the PyTorch engine, starting it on first use with {@code threads} intra-op threads
     * (0 keeps libtorch's default). Later calls with a different positive count change the count.
     */
    public static Engine pytorch(int threads) {
        Engine e = engine;
        if (e == null) {
            synchronized (Engines.class) {
                if (engine == null) {
                    engine = start(threads);
                }
                e = engine;
            }
        }
        if (threads > 0 && JniUtils.getNumThreads() != threads) {
            JniUtils.setNumThreads(threads);
        }
        return e;
    }

    /** @return a new root NDManager of the PyTorch engine on the CPU */
    public static NDManager newManager() {
        return pytorch(0).newBaseManager(ai.djl.Device.cpu());
    }

    /** @return a new root NDManager of the PyTorch engine on {@code device} */
    public static NDManager newManager(ai.djl.Device device) {
        return pytorch(0).newBaseManager(device);
    }

    private static Engine start(int threads) {
        System.setProperty("ai.djl.offline", "true");
        if (threads > 0) {
            System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
            System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        }
        if (Engines.class.getClassLoader().getResource("native/lib/pytorch.properties") == null) {
            throw new IllegalStateException(
                    "libtorch native library not on the classpath: add"
                            + " ai.djl.pytorch:pytorch-native-cpu:"
                            + LIBTORCH_VERSION
                            + ":linux-x86_64 (or a CUDA flavour) and ai.djl.pytorch:pytorch-jni."
                            + " This project runs DJL offline and never downloads native code.");
        }
        try {
            Engine e = Engine.getEngine("PyTorch");
            JniUtils.setGradMode(false);
            return e;
        } catch (RuntimeException | Error err) {
            throw new IllegalStateException(
                    "cannot start the DJL PyTorch engine offline from the bundled native library"
                            + " (pytorch-native-cpu "
                            + LIBTORCH_VERSION
                            + "): "
                            + err.getMessage(),
                    err);
        }
    }

    /** @return "djl=0.36.0 libtorch=2.7.1" style version facts for manifests */
    public static Properties versions() {
        Properties p = new Properties();
        p.setProperty("djl", String.valueOf(Engine.class.getPackage().getImplementationVersion()));
        p.setProperty("libtorch", LIBTORCH_VERSION);
        p.setProperty("java", System.getProperty("java.version"));
        p.setProperty("os.arch", System.getProperty("os.arch"));
        return p;
    }
}
