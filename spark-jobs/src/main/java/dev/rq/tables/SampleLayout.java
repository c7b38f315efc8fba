package dev.rq.tables;

/**
 * Names of the output layout of {@code rq sample}, in one place for the job that writes it and
 * for whoever reads it (the quickstart report, notebooks, tests):
 *
 * <pre>
 * &lt;output&gt;/index.html                    report: settings and one grid per class
 * &lt;output&gt;/images/class-&lt;c&gt;/&lt;i&gt;.png       sample i of class c
 * &lt;output&gt;/grids/class-&lt;c&gt;.png           the first {@link #GRID_MAX} samples of class c
 * &lt;output&gt;/codes/                        generated-codes token table (split {@value #SPLIT}, id
 *                                       class-&lt;c&gt;/&lt;i&gt;), its manifest written last
 * </pre>
 */
public final class SampleLayout {
    /** Folder of the per-sample PNGs. */
    public static final String IMAGES_DIR = "images";
    /** Folder of the per-class grids. */
    public static final String GRIDS_DIR = "grids";
    /** The generated-codes token table. */
    public static final String CODES_DIR = "codes";
    /** The HTML report. */
    public static final String INDEX = "index.html";
    /** Value of the {@code split} column of the generated-codes table. */
    public static final String SPLIT = "sampled";
    /** At most this many samples (the first ones) of a class go into its grid. */
    public static final int GRID_MAX = 64;

    private SampleLayout() {}

    /** @return {@code class-<c>}: the folder of a class's PNGs, its grid's stem and its source-shard value */
    public static String classDir(int classId) {
        return "class-" + classId;
    }

    /** @return the table id of a sample, {@code class-<c>/<i>} */
    public static String sampleId(int classId, int index) {
        return classDir(classId) + "/" + index;
    }

    /** @return {@code <i>.png}, the file name of sample {@code index} inside its class folder */
    public static String imageName(int index) {
        return index + ".png";
    }

    /** @return {@code images/class-<c>/<i>.png}, relative to the output folder */
    public static String imagePath(int classId, int index) {
        return IMAGES_DIR + "/" + classDir(classId) + "/" + imageName(index);
    }

    /** @return {@code grids/class-<c>.png}, relative to the output folder */
    public static String gridPath(int classId) {
        return GRIDS_DIR + "/" + classDir(classId) + ".png";
    }
}
