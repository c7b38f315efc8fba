package dev.rq.model.engine;

import ai.djl.pytorch.jni.JniUtils;

/**
 * Autograd off for the calling thread until {@link #close()}, which restores the thread's previous
 * mode ({@code torch.no_grad()} as a try-with-resources scope).
 *
 * <p>libtorch's grad mode is per thread and <b>on</b> in every thread except the one that started the
 * engine ({@link Engines} turns it off there). Spark task threads and pool threads are such other
 * threads, so an inference pass there must say so: with autograd on, the model code takes its training
 * paths ({@code Ops.conv2d} pads output channels for the backward pass, {@code Ops.freeEarly} keeps every
 * activation of the pass until its scope closes, the bfloat16 weight casts are not held, SiLU is not in
 * place) and records a graph for any parameter that requires a gradient. Training turns autograd on
 * explicitly ({@code StepLoop}, {@code VaeTrainer}), so nothing here affects it.
 */
public final class NoGrad implements AutoCloseable {
    private final boolean previous;

    private NoGrad() {
        previous = JniUtils.isGradMode();
        if (previous) {
            JniUtils.setGradMode(false);
        }
    }

    /** @return a scope with autograd off for this thread */
    public static NoGrad enter() {
        return new NoGrad();
    }

    @Override
    public void close() {
        if (previous) {
            JniUtils.setGradMode(true);
        }
    }
}
