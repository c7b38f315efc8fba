package dev.rq.model.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.rq.model.config.Configs;
import dev.rq.model.engine.Engines;
import dev.rq.model.safetensors.HostTensor;
import dev.rq.model.safetensors.SafeTensors;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Parity of an {@code inception-*} fixture (see the fixture README): the official
 * {@code InceptionWrapper} pool features and {@code get_logits} on the stored input, numpy's
 * {@code np.mean}/{@code np.cov} of two feature sets, and the official {@code frechet_distance}
 * (scipy {@code sqrtm}) of their statistics.
 */
public final class InceptionParity {

    /** Relative tolerance of network outputs (as every other parity check). */
    static final double NET_TOL = 1e-4;

    private InceptionParity() {}

    /** Checks {@code dir/stem.*}. */
    public static void check(Path dir, String stem) throws IOException {
        JsonNode cfg = Configs.readTree(dir.resolve(stem + ".config.json"));
        assertThat(cfg.path("batchnorm_eps").asDouble()).as("%s BatchNorm eps", stem).isEqualTo(InceptionV3.BN_EPS);
        assertThat(cfg.path("resize").path("size").toString()).as("%s resize", stem).isEqualTo("[299,299]");
        SafeTensors.Contents weights = read(dir.resolve(stem + ".weights.safetensors"));
        SafeTensors.Contents io = read(dir.resolve(stem + ".io.safetensors"));
        Engines.pytorch(2);
        try (NDManager m = Engines.newManager(); InceptionV3 net = InceptionV3.fromStateDict(weights.tensors(), m)) {
            NDArray x = io.get("input").toNDArray(m);
            NDArray features = net.features(x);
            assertClose(stem, "pool_features", features.toFloatArray(), io.get("pool_features"), NET_TOL);
            assertThat(features.getShape().getShape()).containsExactly(io.get("pool_features").shape());
            NDArray logits = net.logits(features);
            assertClose(stem, "logits", logits.toFloatArray(), io.get("logits"), NET_TOL);
            assertThat(logits.getShape().getShape()).containsExactly(io.get("logits").shape());
        }
        GaussianStats a = GaussianStats.of(rows(io.get("feats_a")));
        GaussianStats b = GaussianStats.of(rows(io.get("feats_b")));
        // np.mean of float32 features is a float32 result: compare at float32 precision
        assertClose(stem, "mu_a", toFloats(a.mean()), io.get("mu_a"), 1e-6);
        assertClose(stem, "mu_b", toFloats(b.mean()), io.get("mu_b"), 1e-6);
        assertCloseF64(stem, "sigma_a", flat(a.covariance()), io.get("sigma_a"), 1e-12);
        assertCloseF64(stem, "sigma_b", flat(b.covariance()), io.get("sigma_b"), 1e-12);
        double fid = f64(io.get("fid"))[0];
        double fromStored = FrechetDistance.of(f64(io.get("mu_a")), matrix(io.get("sigma_a")), f64(io.get("mu_b")),
                matrix(io.get("sigma_b")));
        assertThat(Math.abs(fromStored - fid) / Math.abs(fid)).as("%s fid from the stored statistics (%s vs %s)",
                stem, fromStored, fid).isLessThanOrEqualTo(1e-9);
        double fromFeatures = FrechetDistance.of(a, b);
        assertThat(Math.abs(fromFeatures - fid) / Math.abs(fid)).as("%s fid from the features (%s vs %s)",
                stem, fromFeatures, fid).isLessThanOrEqualTo(1e-6);
        assertThat(FrechetDistance.of(b, a)).as("%s fid symmetric", stem).isCloseTo(fromFeatures,
                org.assertj.core.api.Assertions.within(1e-9 * fid));
    }

    static SafeTensors.Contents read(Path p) throws IOException {
        try (InputStream in = Files.newInputStream(p)) {
            return SafeTensors.read(in);
        }
    }

    static float[][] rows(HostTensor t) {
        int n = (int) t.shape()[0];
        int d = (int) t.shape()[1];
        float[] all = t.toFloats();
        float[][] r = new float[n][d];
        for (int i = 0; i < n; i++) {
            System.arraycopy(all, i * d, r[i], 0, d);
        }
        return r;
    }

    static double[] f64(HostTensor t) {
        java.nio.ByteBuffer bb = java.nio.ByteBuffer.wrap(t.data()).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        double[] out = new double[(int) t.numel()];
        for (int i = 0; i < out.length; i++) {
            out[i] = t.dtype() == HostTensor.Dtype.F64 ? bb.getDouble() : bb.getFloat();
        }
        return out;
    }

    static double[][] matrix(HostTensor t) {
        int n = (int) t.shape()[0];
        double[] all = f64(t);
        double[][] m = new double[n][];
        for (int i = 0; i < n; i++) {
            m[i] = java.util.Arrays.copyOfRange(all, i * n, (i + 1) * n);
        }
        return m;
    }

    static double[] flat(double[][] m) {
        return java.util.Arrays.stream(m).flatMapToDouble(java.util.Arrays::stream).toArray();
    }

    static float[] toFloats(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }

    static void assertClose(String stem, String name, float[] actual, HostTensor expected, double tol) {
        double[] a = new double[actual.length];
        for (int i = 0; i < a.length; i++) {
            a[i] = actual[i];
        }
        assertCloseF64(stem, name, a, expected, tol);
    }

    static void assertCloseF64(String stem, String name, double[] actual, HostTensor expected, double tol) {
        double[] e = f64(expected);
        assertThat(actual.length).as("%s %s size", stem, name).isEqualTo(e.length);
        double num = 0;
        double den = 0;
        for (int i = 0; i < e.length; i++) {
            num += (actual[i] - e[i]) * (actual[i] - e[i]);
            den += e[i] * e[i];
        }
        double rel = Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
        assertThat(rel).as("%s %s relative error", stem, name).isLessThanOrEqualTo(tol);
    }
}
