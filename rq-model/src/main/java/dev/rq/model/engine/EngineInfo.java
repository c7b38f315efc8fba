package dev.rq.model.engine;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.LibUtils;

/**
 * {@code java -cp <rq jar> dev.rq.model.engine.EngineInfo [--require-gpu]}: starts the engine
 * offline (extracting a bundled libtorch into {@code DJL_CACHE_DIR} on first use — the Docker
 * image runs this at build time so that executors start without unpacking 450 MB) and prints where
 * libtorch came from, its flavour and the GPUs it sees, after one small computation on each
 * device. With {@code --require-gpu} it exits 3 when no GPU is visible (a GPU image's smoke test).
 */
public final class EngineInfo {

    private EngineInfo() {}

    public static void main(String[] args) {
        boolean requireGpu = args.length > 0 && args[0].equals("--require-gpu");
        Engine e = Engines.pytorch(1);
        System.out.println("libtorch " + Engines.LIBTORCH_VERSION + " (" + LibUtils.getVersion() + "), build flavour "
                + Engines.buildFlavor() + ", from " + LibUtils.getLibtorchPath());
        System.out.println("DJL " + Engines.versions().getProperty("djl") + ", cache "
                + ai.djl.util.Utils.getEngineCacheDir("pytorch"));
        int gpus = e.getGpuCount();
        System.out.println("GPUs visible: " + gpus + " (CUDA_VISIBLE_DEVICES=" + System.getenv("CUDA_VISIBLE_DEVICES")
                + ")");
        check(Device.cpu());
        for (int g = 0; g < gpus; g++) {
            check(Device.gpu(g));
        }
        if (requireGpu && gpus == 0) {
            System.err.println("no GPU visible to libtorch (flavour " + Engines.buildFlavor() + ")");
            System.exit(3);
        }
    }

    private static void check(Device d) {
        try (NDManager m = Engines.newManager(d)) {
            NDArray a = m.arange(6f).reshape(2, 3);
            float s = a.matMul(a.transpose()).sum().getFloat();
            System.out.println("  " + d + ": ok (" + s + ")");
        }
    }
}
