package dev.rq.model.engine;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import java.util.Properties;

/**
 * Starts the DJL PyTorch engine in offline mode. libtorch comes from {@code PYTORCH_LIBRARY_PATH}
 * when that is set (a CUDA libtorch {@value #LIBTORCH_VERSION} in a GPU image), else from the
 * native library bundled on the classpath ({@code ai.djl.pytorch:pytorch-native-cpu}); the JNI glue
 * for CPU and CUDA 12.8 comes from {@code pytorch-jni}. Nothing is ever downloaded: a missing native
 * library fails at once with a message saying what to provide. A build made with {@code -Pcuda}
 * bundles no libtorch and needs {@code PYTORCH_LIBRARY_PATH}; see {@link #buildFlavor()}.
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
        String libraryPath = System.getenv("PYTORCH_LIBRARY_PATH");
        if (libraryPath != null && !libraryPath.isBlank()) {
            // DJL takes the flavour (which JNI glue) and version from the environment, else from
            // system properties; without them it would assume a pre-cxx11 CPU build and download
            defaultProperty("PYTORCH_FLAVOR", buildFlavor());
            defaultProperty("PYTORCH_VERSION", LIBTORCH_VERSION);
            if (!java.nio.file.Files.isRegularFile(java.nio.file.Path.of(libraryPath, System.mapLibraryName("torch")))) {
                throw new IllegalStateException("PYTORCH_LIBRARY_PATH=" + libraryPath + " holds no "
                        + System.mapLibraryName("torch") + ": point it at the lib/ directory of libtorch "
                        + LIBTORCH_VERSION + " (" + flavorDescription() + ")");
            }
        } else if (Engines.class.getClassLoader().getResource("native/lib/pytorch.properties") == null) {
            throw new IllegalStateException(
                    "no libtorch: this build (flavour " + buildFlavor() + ") bundles none and PYTORCH_LIBRARY_PATH is"
                            + " not set. Set PYTORCH_LIBRARY_PATH to the lib/ directory of libtorch " + LIBTORCH_VERSION
                            + " (" + flavorDescription() + "; the GPU image of deploy/docker has it), or build"
                            + " without -Pcuda to bundle ai.djl.pytorch:pytorch-native-cpu:" + LIBTORCH_VERSION
                            + ":linux-x86_64. This project runs DJL offline and never downloads native code.");
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

    /**
     * @return the libtorch flavour this build is made for: {@code cpu} (the default build, libtorch
     *     bundled) or {@code cu128} (built with {@code -Pcuda}: CUDA 12.8 libtorch from {@code
     *     PYTORCH_LIBRARY_PATH}, matching the JNI glue of {@code pytorch-jni} 2.7.1-0.36.0)
     */
    public static String buildFlavor() {
        try (java.io.InputStream in = Engines.class.getResourceAsStream("libtorch.properties")) {
            if (in == null) {
                return "cpu";
            }
            Properties p = new Properties();
            p.load(in);
            String f = p.getProperty("flavor", "cpu").trim();
            return f.isEmpty() || f.startsWith("$") ? "cpu" : f;
        } catch (java.io.IOException e) {
            return "cpu";
        }
    }

    private static String flavorDescription() {
        return buildFlavor().equals("cpu") ? "CPU, cxx11 ABI" : "CUDA " + buildFlavor().substring(2, 4) + "."
                + buildFlavor().substring(4) + ", cxx11 ABI";
    }

    private static void defaultProperty(String key, String value) {
        if (System.getenv(key) == null && System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }

    /** @return "djl=0.36.0 libtorch=2.7.1" style version facts for manifests */
    public static Properties versions() {
        Properties p = new Properties();
        p.setProperty("djl", String.valueOf(Engine.class.getPackage().getImplementationVersion()));
        p.setProperty("libtorch", LIBTORCH_VERSION);
        p.setProperty("libtorch_flavor", buildFlavor());
        p.setProperty("java", System.getProperty("java.version"));
        p.setProperty("os.arch", System.getProperty("os.arch"));
        return p;
    }
}
