package dev.rq.model.kernels;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.pytorch.jni.JniUtils;
import dev.rq.model.engine.Engines;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * One TorchScript function {@code forward(x0: Tensor, x1: Tensor, …) -> Tensor} compiled by
 * libtorch from source text at run time.
 *
 * <p>The function is packed as the {@code forward} method of a parameterless module in a
 * TorchScript archive written here (format version 3: {@code code/__torch__.py} with the
 * serialized-code dialect, a two-entry {@code data.pkl}), and loaded with {@code
 * torch::jit::load}. Only {@code forward} is used because DJL runs other methods with autograd
 * disabled; {@code forward} follows the calling thread's grad mode like any other DJL operator.
 * Scalars (group counts, eps, scales) are constants of the source, one function per value.
 * Thread-safe: libtorch's graph executor may run one function on several threads at once.
 */
final class ScriptFunction {

    /** Owns the compiled functions, which live as long as the process. */
    private static final class Holder {
        static final ai.djl.ndarray.NDManager MANAGER = Engines.newManager();
    }

    /**
     * Whether the calling thread has chosen libtorch's plain TorchScript executor (the flag is
     * thread-local in libtorch). The profiling executor, libtorch's default, specialises each
     * function to the shapes it has seen and re-plans when they change — every step of a
     * KV-cached sampler feeds new shapes — while these one-operator functions gain nothing from
     * its optimisations. {@code -Drq.kernels.jit_optimize=true} keeps the default to compare.
     */
    private static final ThreadLocal<Boolean> EXECUTOR_CHOSEN = ThreadLocal.withInitial(
            () -> Boolean.getBoolean("rq.kernels.jit_optimize"));

    private final String name;
    private final PtSymbolBlock block;

    private ScriptFunction(String name, PtSymbolBlock block) {
        this.name = name;
        this.block = block;
    }

    /**
     * Compiles {@code def forward(self, <params>) -> Tensor: <body>}.
     *
     * @param name for error messages
     * @param params TorchScript parameter list, e.g. {@code "x: Tensor, w: Tensor"}
     * @param body statements, one per line, indented by the caller-free convention (4 spaces added
     *     here), ending with a {@code return}
     */
    static ScriptFunction compile(String name, String params, String body) {
        return compile(name, params, "Tensor", body);
    }

    /**
     * Compiles {@code def forward(self, <params>) -> <returns>: <body>} (for {@link #callIValues}).
     *
     * @param returns the TorchScript return type, e.g. {@code "Tensor"} or {@code "List[float]"}
     */
    static ScriptFunction compile(String name, String params, String returns, String body) {
        StringBuilder src = new StringBuilder()
                .append("class K(Module):\n")
                .append("  __parameters__ = []\n")
                .append("  __buffers__ = []\n")
                .append("  training : bool\n")
                .append("  def forward(self: __torch__.K, ").append(params).append(") -> ").append(returns).append(":\n");
        for (String line : body.split("\n")) {
            src.append("    ").append(line).append('\n');
        }
        PtNDManager manager = (PtNDManager) Holder.MANAGER;
        try {
            PtSymbolBlock b = JniUtils.loadModule(manager, new ByteArrayInputStream(archive(src.toString())), false,
                    false);
            return new ScriptFunction(name, b);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            throw new IllegalStateException("libtorch cannot compile kernel " + name + ": " + e.getMessage()
                    + "\n" + src, e);
        }
    }

    /**
     * Runs the function; the result belongs to the first input's manager.
     *
     * @param inputs the tensor arguments in order
     */
    NDArray call(NDArray... inputs) {
        if (!EXECUTOR_CHOSEN.get()) {
            JniUtils.setGraphExecutorOptimize(false);
            EXECUTOR_CHOSEN.set(true);
        }
        NDList out = IValueUtils.forward(block, new NDList(inputs), true);
        if (out.size() != 1) {
            throw new IllegalStateException("kernel " + name + " returned " + out.size() + " tensors");
        }
        return out.get(0);
    }

    /**
     * Runs the function on TorchScript values (tensor lists, floats) built by the caller, who
     * closes them; the caller also closes the returned value.
     */
    IValue callIValues(IValue... inputs) {
        if (!EXECUTOR_CHOSEN.get()) {
            JniUtils.setGraphExecutorOptimize(false);
            EXECUTOR_CHOSEN.set(true);
        }
        return IValueUtils.forward(block, inputs);
    }

    /** @return a TorchScript archive holding {@code source} as module {@code __torch__.K} */
    static byte[] archive(String source) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            entry(zip, "k/version", "3\n".getBytes(StandardCharsets.US_ASCII));
            entry(zip, "k/constants.pkl", new byte[] {(byte) 0x80, 2, ')', '.'}); // empty tuple
            entry(zip, "k/data.pkl", modulePickle());
            entry(zip, "k/code/__torch__.py", source.getBytes(StandardCharsets.UTF_8));
        }
        return bytes.toByteArray();
    }

    /** Pickle (protocol 2) of an instance of {@code __torch__.K} with state {@code {training: True}}. */
    private static byte[] modulePickle() {
        ByteArrayOutputStream p = new ByteArrayOutputStream();
        p.write(0x80); // PROTO 2
        p.write(2);
        p.writeBytes("c__torch__\nK\n".getBytes(StandardCharsets.US_ASCII)); // GLOBAL __torch__.K
        p.write(')'); // EMPTY_TUPLE
        p.write(0x81); // NEWOBJ
        p.write('}'); // EMPTY_DICT
        p.write('('); // MARK
        byte[] key = "training".getBytes(StandardCharsets.US_ASCII);
        p.write('X'); // BINUNICODE, 4-byte little-endian length
        p.writeBytes(new byte[] {(byte) key.length, 0, 0, 0});
        p.writeBytes(key);
        p.write(0x88); // NEWTRUE
        p.write('u'); // SETITEMS
        p.write('b'); // BUILD
        p.write('.'); // STOP
        return p.toByteArray();
    }

    private static void entry(ZipOutputStream zip, String name, byte[] data) throws IOException {
        zip.putNextEntry(new ZipEntry(name));
        zip.write(data);
        zip.closeEntry();
    }
}
