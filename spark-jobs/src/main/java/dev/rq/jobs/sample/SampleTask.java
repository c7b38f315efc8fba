package dev.rq.jobs.sample;

import dev.rq.io.HadoopDir;
import dev.rq.io.SerializableHadoopConf;
import dev.rq.model.config.SamplingConfig;
import dev.rq.model.util.Rng;
import dev.rq.report.ImageGrid;
import dev.rq.tables.SampleLayout;
import java.io.IOException;
import java.io.OutputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

/**
 * The per-partition work of the sample job: for each {@link SampleUnit}, one batched, KV-cached
 * sampling call with one generator per sample ({@link SampleJob#generator}), decoding with the
 * RQ-VAE, one PNG per sample ({@code images/class-<c>/<i>.png} under the job's output folder,
 * written under a temporary name and renamed, so a retried task just replaces it with identical
 * bytes) and one token-table row per sample.
 */
public final class SampleTask implements FlatMapFunction<Iterator<SampleUnit>, Row>, Serializable {
    private static final long serialVersionUID = 1L;

    private final SamplerModel model;
    private final SerializableHadoopConf conf;
    private final String outputUri;
    private final double temperature;
    private final int[] topK;
    private final double[] topP;
    private final int batchSize;
    private final double cfgScale;
    private final long seed;
    private final boolean conditional;
    private final int codesLength;
    private final int[] codebookSizes;
    private final boolean shortCodes;
    private final int resolution;
    private final String split;

    /**
     * @param model the executor model handle
     * @param conf Hadoop configuration for the output
     * @param outputUri the (temporary) output folder; PNGs go to {@code images/class-<c>/<i>.png}
     * @param sampling sampling settings
     * @param seed run seed
     * @param conditional pass the class as condition (false: unconditional model, no condition)
     * @param codeShape [H, W, D]
     * @param codebookSizes K per depth (codes are checked against it)
     * @param shortCodes store codes as int16
     * @param resolution image side R
     * @param split value of the {@code split} column
     */
    public SampleTask(SamplerModel model, SerializableHadoopConf conf, String outputUri, SamplingConfig sampling,
            long seed, boolean conditional, int[] codeShape, int[] codebookSizes, boolean shortCodes, int resolution,
            String split) {
        this.model = model;
        this.conf = conf;
        this.outputUri = outputUri;
        this.temperature = sampling.temperature();
        this.topK = topKs(sampling);
        this.topP = topPs(sampling);
        this.batchSize = sampling.batchSize();
        this.cfgScale = sampling.cfgScale();
        this.seed = seed;
        this.conditional = conditional;
        this.codesLength = codeShape[0] * codeShape[1] * codeShape[2];
        this.codebookSizes = codebookSizes.clone();
        this.shortCodes = shortCodes;
        this.resolution = resolution;
        this.split = split;
    }

    @Override
    public Iterator<Row> call(Iterator<SampleUnit> units) {
        SamplingConfig sampling = sampling();
        return new Iterator<>() {
            private Iterator<Row> current = List.<Row>of().iterator();
            private SamplerModel.Loaded m;

            @Override
            public boolean hasNext() {
                while (!current.hasNext() && units.hasNext()) {
                    if (m == null) {
                        m = model.get();
                    }
                    current = run(m, sampling, units.next()).iterator();
                }
                return current.hasNext();
            }

            @Override
            public Row next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                return current.next();
            }
        };
    }

    private List<Row> run(SamplerModel.Loaded m, SamplingConfig sampling, SampleUnit u) {
        int b = u.size();
        long[] cond = conditional ? new long[b] : null;
        Rng[] rows = new Rng[b];
        for (int j = 0; j < b; j++) {
            if (cond != null) {
                cond[j] = u.classes()[j];
            }
            rows[j] = SampleJob.generator(seed, u.classes()[j], u.indices()[j]);
        }
        SamplerModel.Generated g = m.sampleAndDecode(cond, sampling, rows);
        List<Row> out = new ArrayList<>(b);
        try {
            HadoopDir images = new HadoopDir(outputUri, conf.get()).child(SampleLayout.IMAGES_DIR);
            HadoopDir classDir = null;
            int dirClass = -1;
            for (int j = 0; j < b; j++) {
                int c = u.classes()[j];
                int i = u.indices()[j];
                if (classDir == null || dirClass != c) {
                    classDir = images.child(SampleLayout.classDir(c));
                    dirClass = c;
                }
                try (OutputStream s = classDir.create(SampleLayout.imageName(i))) {
                    ImageGrid.writePng(ImageGrid.image(g.images(), j, 3, resolution, resolution), s);
                }
                out.add(RowFactory.create(SampleLayout.sampleId(c, i), (long) c, (short) 0, codes(g.codes(), j),
                        SampleLayout.classDir(c), (long) i, split));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    private Object codes(long[] all, int row) {
        int base = row * codesLength;
        int depth = codebookSizes.length;
        if (shortCodes) {
            short[] c = new short[codesLength];
            for (int j = 0; j < codesLength; j++) {
                c[j] = (short) check(all[base + j], j % depth);
            }
            return c;
        }
        int[] c = new int[codesLength];
        for (int j = 0; j < codesLength; j++) {
            c[j] = (int) check(all[base + j], j % depth);
        }
        return c;
    }

    private long check(long code, int d) {
        if (code < 0 || code >= codebookSizes[d]) {
            throw new IllegalStateException("sampled code " + code + " at depth " + d + " outside [0, "
                    + codebookSizes[d] + ")");
        }
        return code;
    }

    /** {@link SamplingConfig} is not serializable: its values travel as arrays. */
    private static double[] topPs(SamplingConfig s) {
        return s.topP() == null ? null : s.topP().stream().mapToDouble(Double::doubleValue).toArray();
    }

    private static int[] topKs(SamplingConfig s) {
        return s.topK() == null ? null : s.topK().stream().mapToInt(Integer::intValue).toArray();
    }

    private SamplingConfig sampling() {
        return new SamplingConfig(temperature, topK == null ? null : Arrays.stream(topK).boxed().toList(),
                topP == null ? null : Arrays.stream(topP).boxed().toList(), batchSize, cfgScale);
    }
}
